#!/usr/bin/env bash
# Set up, build the demo city, and serve the API and the maps on http://127.0.0.1:8000
# Usage: ./run.sh            (small demo city)    SCALE=city ./run.sh   (the real scale)
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
report=$(.venv/bin/wangge demo --scale "${SCALE:-small}" --seed "${SEED:-0}" --json)
echo "$report"
admin=$(printf '%s' "$report" | .venv/bin/python -c "import json, sys; print(json.load(sys.stdin)['keys']['admin'])")
base="http://127.0.0.1:${PORT:-8000}"
echo "admin key: $admin"
for page in grids coverage heatmap hotspots overdue ranking; do
  echo "map: $base/maps/$page?api_key=$admin"
done
echo "API: curl -H 'X-API-Key: $admin' '$base/v1/locate?lon=116.876&lat=36.618'   (OpenAPI: $base/docs)"
exec .venv/bin/wangge serve --host 127.0.0.1 --port "${PORT:-8000}" --workers "${WORKERS:-2}"
