#!/usr/bin/env bash
# The GPU figures of the recipes (issues 13, 22) as ONE command on a machine with one CUDA GPU and no network.
#
# The GPU machine has torch, pandas, pyarrow, tokenizers, accelerate, peft, ... but not trl, datasets,
# krippendorff or rouge_score, and maybe older transformers/huggingface_hub than the recipes need. They
# travel with the working tree as wheels, pinned to the versions installed here (what the tests ran with).
#
# 1. Here, on a machine with PyPI, from the repository root (the folder .whl/ is ignored by git; never commit it):
#        bash benchmarks/gpu_device.sh prepare --list     # what would be downloaded, and nothing else
#        bash benchmarks/gpu_device.sh prepare            # download those wheels into .whl/ (tens of MiB)
#    PYTHON=/path/to/python names the interpreter whose versions are pinned (default: python3), PYVER the GPU
#    machine's Python (default 3.12), EXTRA more packages (e.g. EXTRA=pyarrow when the machine's pyarrow is
#    older than datasets asks for; EXTRA=liger-kernel for --liger; the run below stops at once, naming it, when an
#    import fails).
# 2. On the GPU machine, from the repository root, with .whl/ carried along (at most 9 minutes):
#        bash benchmarks/gpu_device.sh [more flags for benchmarks/gpu.py]
#    It installs the wheels into /tmp/site (ahead of the machine's own packages), checks the imports and
#    the GPU, runs benchmarks/gpu.py (default: T5 base, large, xl and qwen2.5-0.5b at the real lengths of
#    benchmarks/natinst_lengths.json, 20 warm-up + 3 x 50 timed steps, 1,024 test prompts) and leaves
#    benchmarks/results/gpu_<device>.json and gpu_<device>.log; when $OUT is set (the device tool), both
#    are copied there too, since only $OUT comes back. Variants, each a call of its own:
#        bash benchmarks/gpu_device.sh --models t5-lm-adapt-base,qwen2.5-0.5b --out benchmarks/results/gpu_h100_small.json
#        bash benchmarks/gpu_device.sh --compile --out benchmarks/results/gpu_h100_compiled.json
#        bash benchmarks/gpu_device.sh --models t5-lm-adapt-xl --layout 8x2 --out benchmarks/results/gpu_h100_xl_8x2.json
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=.whl
ROOTS="trl datasets transformers tokenizers huggingface_hub accelerate peft safetensors krippendorff rouge_score nltk pyyaml tqdm filelock jinja2 packaging msgspec ${EXTRA:-}"
# On the GPU machine already, and heavy or built against its CUDA: never carried.
SKIP="torch numpy pandas pyarrow scipy triton sympy networkx pillow psutil typer"  # typer: transformers' CLI only

prepare() {
  local list_only=${1:-}
  local python=${PYTHON:-python3} pyver=${PYVER:-3.12}
  local pins
  pins=$("$python" - "$ROOTS" "$SKIP" "${EXTRA:-}" "$pyver" <<'EOF'
"""The roots and everything they require (markers evaluated for Linux x86-64, the GPU machine's Python),
pinned to the versions installed here; the skipped packages left out unless named in EXTRA."""
import sys
from importlib.metadata import PackageNotFoundError, requires, version

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

roots, skip, extra, pyver = sys.argv[1].split(), sys.argv[2].split(), sys.argv[3].split(), sys.argv[4]
skip = {canonicalize_name(n) for n in skip} - {canonicalize_name(n) for n in extra}
env = {"python_version": pyver, "python_full_version": pyver + ".0", "sys_platform": "linux",
       "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
       "platform_python_implementation": "CPython", "implementation_name": "cpython", "extra": ""}
seen, todo = {}, [canonicalize_name(n) for n in roots]
while todo:
    name = todo.pop()
    if name in seen or name in skip:
        continue
    try:
        seen[name] = version(name)
    except PackageNotFoundError:
        sys.exit(f"error: {name} is not installed in {sys.executable}; install it there (or set PYTHON=) first")
    for line in requires(name) or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            todo.append(canonicalize_name(req.name))
print("\n".join(f"{n}=={v}" for n, v in sorted(seen.items())))
EOF
)
  if [ "$list_only" = "--list" ]; then
    echo "$pins"
    return
  fi
  mkdir -p "$WHEELS"
  local platforms=()
  for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
  done
  for pin in $pins; do
    "$python" -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
      "${platforms[@]}" -d "$WHEELS" "$pin" \
      || "$python" -m pip wheel -q --no-deps -w "$WHEELS" "$pin"   # sdist only (rouge_score): a pure-Python wheel
  done
  du -sh "$WHEELS"
  echo "carry $WHEELS with the run (the device tool: carry [\"$WHEELS\"]), then: bash benchmarks/gpu_device.sh"
}

run() {
  if [ "${STEPINST_DEVICE_CHECK:-}" = "cpu" ]; then  # the test suite: this Python's packages, no GPU, e.g. with --tiny
    export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
    measure "$@"
    return
  fi
  if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    echo "error: no wheels in $WHEELS/: run 'bash benchmarks/gpu_device.sh prepare' on a machine with PyPI and carry $WHEELS" >&2
    exit 1
  fi
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
  export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
  # transformers >= 5.25 fetches hub kernels (kernels-community/rotary for Qwen2) when `kernels` is installed;
  # the GPU machine is offline, so the models run transformers' own code (what the figures were measured with).
  export USE_HUB_KERNELS=NO
  python3 - <<'EOF'
import sys

import datasets, rouge_score, torch, transformers, trl  # noqa: E401  (an import that fails names the wheel to carry)

if not torch.cuda.is_available():
    sys.exit("error: torch sees no CUDA GPU here; run this script on the GPU machine")
print(f"{torch.cuda.get_device_name()}: torch {torch.__version__}, transformers {transformers.__version__}, "
      f"trl {trl.__version__}, datasets {datasets.__version__}", flush=True)
EOF
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  measure "$@"
}

measure() {
  local log status=0 json
  log=$(mktemp "${TMPDIR:-/tmp}/gpu_run.XXXXXX")
  timeout 540 python3 benchmarks/gpu.py "$@" 2>&1 | tee "$log" || status=$?
  json=$(sed -n 's/^wrote //p' "$log" | tail -1)
  if [ -n "$json" ]; then  # the log goes next to the result it explains
    mv "$log" "${json%.json}.log"
    log="${json%.json}.log"
  else
    mkdir -p benchmarks/results
    mv "$log" benchmarks/results/gpu_run.log
    log=benchmarks/results/gpu_run.log
  fi
  if [ -n "${OUT:-}" ]; then
    cp "$log" "$OUT"/
    [ -n "$json" ] && cp "$json" "$OUT"/
  fi
  return "$status"
}

case "${1:-}" in
  prepare) shift; prepare "$@" ;;
  *) run "$@" ;;
esac
