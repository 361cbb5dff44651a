#!/usr/bin/env bash
# Set up (with test extras and Chromium) and run the whole test suite against a real PostGIS.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --test
exec .venv/bin/python -m pytest -q "$@"
