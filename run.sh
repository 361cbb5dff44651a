#!/usr/bin/env bash
# Set up, build the demo city, and serve the API and the maps on http://127.0.0.1:8000
# Usage: ./run.sh            (small demo city)    SCALE=city ./run.sh   (the real scale)
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
.venv/bin/wangge demo --scale "${SCALE:-small}" --seed "${SEED:-0}"
echo "maps: http://127.0.0.1:${PORT:-8000}/maps/grids?api_key=<the admin key above>"
exec .venv/bin/wangge serve --host 127.0.0.1 --port "${PORT:-8000}" --workers "${WORKERS:-2}"
