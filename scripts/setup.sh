#!/usr/bin/env bash
# Install what Wangge needs on a fresh Debian/Ubuntu machine: PostgreSQL + PostGIS (and Chromium for
# the map tests), then a virtual environment at ./.venv with the project in it.
# Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

have_postgis() {
  for v in 17 16 15 14; do
    [ -x /usr/lib/postgresql/$v/bin/initdb ] && [ -f /usr/share/postgresql/$v/extension/postgis.control ] && return 0
  done
  return 1
}

pkgs=()
if ! have_postgis; then
  $SUDO apt-get update -qq
  for v in 15 16 17 14; do
    if apt-cache show "postgresql-$v-postgis-3" >/dev/null 2>&1; then
      pkgs+=("postgresql-$v" "postgresql-$v-postgis-3"); break
    fi
  done
  [ ${#pkgs[@]} -gt 0 ] || { echo "no postgresql-N-postgis-3 package found in apt" >&2; exit 1; }
fi
if [ $want_test -eq 1 ]; then  # a browser and a CJK font (map pages as a person sees them); GDAL (the OGC API client)
  missing=()
  for p in chromium fonts-wqy-microhei gdal-bin; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    [ ${#pkgs[@]} -gt 0 ] || $SUDO apt-get update -qq
    pkgs+=("${missing[@]}")
  fi
fi
command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null || pkgs+=(python3-venv)
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "installing: ${pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
if [ $want_test -eq 1 ]; then
  .venv/bin/pip install -q -e ".[test]"
else
  .venv/bin/pip install -q -e .
fi
