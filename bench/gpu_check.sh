#!/usr/bin/env bash
# Every GPU figure of issue #5 in one command, on a machine with no network:
#   bash bench/gpu_check.sh            (results in $OUT, else build/gpu-check)
# Packages the machine lacks (bark 0.1.5, funcy, tqdm, scipy, soundfile) are installed from
# the gitignored .whl/ folder if present (see bench/README.md); nothing comes from the network.
# Each measurement runs on its own; a failure prints its error and the next one runs.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python || command -v python3)}
RES=${OUT:-build/gpu-check}
mkdir -p "$RES"
START=$(date +%s)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
"$PY" -c "import sys, torch, transformers; print('python', sys.version.split()[0], 'torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"

echo "== offline installs (only what is missing)"
for pair in funcy:funcy tqdm:tqdm scipy:scipy soundfile:soundfile bark:bark; do
  mod=${pair%%:*}; pkg=${pair##*:}
  if "$PY" -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('$mod') else 1)" 2>/dev/null; then
    echo "$pkg: present"
  elif ls .whl/${pkg}-*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --find-links .whl "$pkg" 2>&1 | tail -2 && echo "$pkg: installed from .whl/"
  else
    echo "$pkg: MISSING (no wheel in .whl/)"
  fi
done

run() {  # run NAME TIMEOUT_S bench.py-args...
  local name=$1 limit=$2; shift 2
  echo
  echo "== $name  (t+$(( $(date +%s) - START )) s)"
  timeout "$limit" "$PY" bench/bench.py --device cuda --json "$RES/$name.json" "$@" 2>&1 | grep -v "Writing model shards" | tee "$RES/$name.log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || echo "!! $name failed or timed out (exit $rc); continuing"
}

# large, bfloat16, every model resident: ours vs the reference (float32 weights + autocast bf16), 4 takes vs 1
run large-bf16-resident 190 --size large --dtype bfloat16 --placement resident --weights random --repeat 2 --takes-batch 4
# large, bfloat16, offload (each model moves to the GPU only for its stage)
run large-bf16-offload 80 --size large --dtype bfloat16 --placement offload --weights random --repeat 1 --takes-batch 1 --skip-reference
# small, bfloat16, resident: ours vs the reference
run small-bf16-resident 100 --size small --dtype bfloat16 --placement resident --weights random --repeat 2 --takes-batch 1

# optional (FUSION=1, ~2 more minutes): would torch.compile of the decode step pay on this GPU?
if [ "${FUSION:-0}" = 1 ]; then
  echo
  echo "== step fusion, large coarse step  (t+$(( $(date +%s) - START )) s)"
  timeout 180 "$PY" bench/step_fusion.py --size large --device cuda --dtype bfloat16 2>&1 | tee "$RES/step-fusion.log" \
    || echo "!! step fusion failed or timed out; continuing"
fi

echo
echo "== summary (t+$(( $(date +%s) - START )) s)"
"$PY" - "$RES" <<'PYEOF'
import json, sys
from pathlib import Path
for f in sorted(Path(sys.argv[1]).glob("*.json")):
    d = json.loads(f.read_text())
    ref = d.get("reference") or {}
    for dt, o in d.get("ours", {}).items():
        if "error" in o:
            print(f"{f.stem}: ours FAILED"); continue
        line = f"{f.stem}: RTF ours {o['rtf']:.3f} (no decode {o['rtf_no_decode']:.3f})"
        if "rtf_no_decode" in ref:
            line += f", reference {ref['rtf_no_decode']:.3f} (no decode) -> x{ref['rtf_no_decode'] / o['rtf_no_decode']:.2f}"
        line += f", peak GPU {o['gpu_peak_1take'] / 2**30:.2f} GiB (held after load {o.get('gpu_after_load', -1) / 2**30:.2f})"
        if "batch_throughput_ratio" in o:
            line += f", {o['batch_takes']} takes throughput x{o['batch_throughput_ratio']:.2f} (peak {o['gpu_peak_batch'] / 2**30:.2f} GiB)"
        print(line)
PYEOF
