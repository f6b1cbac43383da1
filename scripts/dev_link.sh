#!/usr/bin/env bash
# Development convenience: replace the copies that `pip install .` put into the
# venv with symlinks to this checkout, so edits to Python files are live without
# reinstalling. Messages are generated code; rebuild with `pip install
# --no-build-isolation --no-deps .` after changing msg/ (then run this again).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
site=$("$root/.venv/bin/python" -c "import avatar, os; print(os.path.dirname(avatar.__file__))")
for d in nodes model_runtime core cli assets; do
  rm -rf "${site:?}/$d"
  ln -s "$root/$d" "$site/$d"
done
echo "linked $site -> $root"
