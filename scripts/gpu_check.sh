#!/usr/bin/env bash
# The GPU check (docs/ENGINE.md, "GPU check"): one time-boxed run that proves or
# disproves the GPU path: parity, the CUDA-stream executor, speed, concurrent streams.
#
#   bash scripts/gpu_check.sh [--quick] [--record [FILE]]     # extra arguments go to the Python entry point
#
# With CUDA (nvidia-smi lists a GPU):
#   1. Python environment, by what can be reached:
#      - a package registry answers: a fresh venv ($GPU_CHECK_VENV, default /tmp/avatar-gpu-venv)
#        with scripts/gpu_requirements.txt (torch, onnxruntime-gpu and TensorRT for CUDA 12, pinned
#        there) and the rest of pyproject.toml's runtime dependencies (not the ROS wheels: the check
#        needs no messages);
#      - no registry (a lent machine that reaches nothing): the machine's own python3 and its CUDA
#        torch, plus any wheels carried in $GPU_CHECK_WHEELS (default build/gpu-wheels, made here by
#        scripts/gpu_wheels.sh) installed into an overlay folder on PYTHONPATH.
#      Each step is timed into $GPU_CHECK_OUT/install.json.
#   2. The avatar package is this checkout, imported through a folder of symlinks (as
#      scripts/dev_link.sh links the installed package), so nothing is built.
#   3. python -m avatar.model_runtime.engine.gpu_check with what is left of the time limit.
# Without CUDA: the same entry point in CPU mode with the repo's .venv (tiny sizes, "no CUDA").
#
# Everything, installs included, ends within $GPU_CHECK_LIMIT_S (default 470 s, under 8 minutes):
# the installs get what is left after 180 s for the check, which writes its JSON in $GPU_CHECK_OUT
# (default runs/gpu-check) as it goes. GPU_CHECK_OFFLINE=1 skips the registry (the machine's torch).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$SECONDS
limit_s=${GPU_CHECK_LIMIT_S:-470}
out=${GPU_CHECK_OUT:-runs/gpu-check}
venv=${GPU_CHECK_VENV:-/tmp/avatar-gpu-venv}
wheels=${GPU_CHECK_WHEELS:-build/gpu-wheels}
check_min_s=180                                 # what the installs always leave to the check itself
mkdir -p "$out"
out=$(cd "$out" && pwd)
say() { echo "[gpu_check.sh +$((SECONDS - start)) s] $*"; }

if ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; }; then
  say "no CUDA (nvidia-smi absent or it lists no GPU): CPU mode with the repo's .venv"
  [ -x .venv/bin/python ] || bash scripts/setup.sh
  exec .venv/bin/python -m avatar.model_runtime.engine.gpu_check --cpu --out "$out" "$@"
fi
say "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"

base=${GPU_CHECK_PYTHON:-python3}
declare -A step_s=() installed=()
timed() {   # timed NAME CMD...: run, record its seconds
  local name=$1 t0=$SECONDS
  shift
  "$@"
  local rc=$?
  step_s[$name]=$((SECONDS - t0))
  return $rc
}

install_left() {   # seconds an install step may take (at least 1: `timeout 0` would mean no limit)
  local s=$((limit_s - (SECONDS - start) - check_min_s))
  echo $((s > 1 ? s : 1))
}

registry_answers() {
  [ "${GPU_CHECK_OFFLINE:-0}" = 1 ] && return 1
  timeout 40 "$base" -m pip index versions tensorrt-cu12 --retries 0 --timeout 10 >/dev/null 2>&1
}

install_from_registry() {
  local py=$venv/bin/python req stamp
  stamp=$(cat scripts/gpu_requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -x "$py" ] && [ "$(cat "$venv/.gpu-check-stamp" 2>/dev/null)" = "$stamp" ]; then
    say "reusing $venv (installed from the same pins)"
    python_bin=$py
    return 0
  fi
  rm -rf "$venv"
  "$base" -m venv "$venv"
  mapfile -t deps < <("$py" - <<'PY'
import tomllib
d = tomllib.load(open("pyproject.toml", "rb"))
# ROS wheels: the check imports no messages; torch and onnxruntime: the GPU builds replace them.
skip = ("ros-jazzy-", "torch==", "onnxruntime==")
print("\n".join(r for r in d["project"]["dependencies"] if not r.startswith(skip)))
PY
)
  mapfile -t nodeps < <("$py" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["tool"]["avatar"]["no-deps-dependencies"]))')
  # The small ones first, so that the big GPU wheels are what a time limit cuts.
  say "installing the runtime dependencies of pyproject.toml (without ROS, torch, onnxruntime) into $venv"
  timed runtime_deps timeout "$(install_left)" "$py" -m pip install -q --retries 1 "${deps[@]}" || return 1
  timed no_deps timeout "$(install_left)" "$py" -m pip install -q --retries 1 --no-deps "${nodeps[@]}" || return 1
  # The GPU pins one at a time, torch first: a later one that fails (TensorRT's libraries are fetched
  # by a stub from NVIDIA's own index, which a PyPI mirror may not reach) is noted, and its check says so.
  while read -r req; do
    say "installing $req"
    if timed "$req" timeout "$(install_left)" "$py" -m pip install -q --retries 1 "$req"; then
      installed[$req]=ok
    else
      installed[$req]=failed
      say "could not install $req"
      [[ $req == torch==* ]] && return 1
    fi
  done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/gpu_requirements.txt)
  echo "$stamp" > "$venv/.gpu-check-stamp"
  python_bin=$py
}

use_machine_python() {
  python_bin=$(command -v "$base")
  if compgen -G "$wheels/*.whl" >/dev/null; then
    say "installing the carried wheels in $wheels into $venv/overlay"
    rm -rf "$venv/overlay"
    timed carried_wheels "$base" -m pip install -q --no-index --no-deps --no-compile --target "$venv/overlay" "$wheels"/*.whl
    overlay=$venv/overlay
  fi
}

python_bin="" overlay="" how=""
if registry_answers; then
  if install_from_registry; then
    how="venv from the registry: scripts/gpu_requirements.txt + pyproject.toml"
  else
    say "the registry install failed or ran out of time: falling back to the machine's python3"
    how="registry install failed: the machine's python3"
    use_machine_python
  fi
else
  say "no package registry answers: the machine's python3 and its CUDA torch"
  how="no registry reachable: the machine's python3 (its own torch)"
  use_machine_python
fi
if [ -n "$overlay" ]; then how="$how + carried wheels ($wheels)"; fi

# The checkout as the package `avatar`, without building it (no ROS messages needed).
pkg=$venv/src
rm -rf "$pkg"
mkdir -p "$pkg/avatar"
: > "$pkg/avatar/__init__.py"
for d in core model_runtime cli nodes assets; do ln -s "$root/$d" "$pkg/avatar/$d"; done
export PYTHONPATH="${overlay:+$overlay:}$pkg${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

steps_json="" packages_json=""
for k in "${!step_s[@]}"; do steps_json+="\"$k\": ${step_s[$k]}, "; done
for k in "${!installed[@]}"; do packages_json+="\"$k\": \"${installed[$k]}\", "; done
cat > "$out/install.json" <<EOF
{"how": "$how", "python": "$python_bin", "seconds": $((SECONDS - start)), "steps": {${steps_json%, }},
 "packages": {${packages_json%, }}}
EOF
say "environment ready ($how)"

say "torch: $("$python_bin" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda,
  "sees a GPU" if torch.cuda.is_available() else "sees no GPU: the check runs in CPU mode")' 2>&1 | tail -1)"
if ! "$python_bin" -c 'import avatar.model_runtime.engine.gpu_check, avatar.model_runtime.engine.streaming'; then
  say "the avatar package does not import here (a missing module above?): carry its wheels,"
  say "made on a machine with a registry by scripts/gpu_wheels.sh, in $wheels"
  exit 1
fi

left=$((limit_s - (SECONDS - start)))
budget=$((left - 45))                            # the entry point skips what would not fit; margin to finish
say "running the check: ${left} s left, sections budgeted to ${budget} s"
set +e
timeout --kill-after=10 "$left" "$python_bin" -m avatar.model_runtime.engine.gpu_check --out "$out" \
  --budget-s "$budget" --install-json "$out/install.json" "$@"
rc=$?
set -e
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then say "time limit reached: partial results in $out/gpu_check.json"; fi
say "done (exit $rc): $out/gpu_check.json, $out/gpu_check.md"
exit $rc
