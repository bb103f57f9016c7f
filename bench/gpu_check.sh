#!/usr/bin/env bash
# Issue 14's GPU figures in one command, under 5 minutes, on a machine with no network:
#   bash bench/gpu_check.sh            (results in $OUT, else build/gpu-check)
# Prints: large bfloat16 resident real-time factor (ours vs the reference) and 4 takes in one batch;
# peak GPU memory resident / offloaded / small; the fixed-shape decode step eager, as a CUDA graph,
# and through torch.compile (if this machine can compile) with the compiled step also graphed.
# Without CUDA it stops at once with one sentence (exit 2): nothing here runs on a CPU.
# Packages the machine lacks (bark 0.1.5, funcy, tqdm, scipy, soundfile) are installed from
# the gitignored .whl/ folder if present (see bench/README.md); nothing comes from the network.
# Each measurement runs on its own, under its own time limit; a failure prints its error and the next runs.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python || command -v python3)}
RES=${OUT:-build/gpu-check}
BUDGET_S=${BUDGET_S:-290}  # the whole script, seconds
START=$(date +%s)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "gpu_check.sh needs a CUDA GPU: torch.cuda.is_available() is False here ($("$PY" -c 'import torch; print("torch", torch.__version__)' 2>&1 | tail -1)); nothing was measured. On a CPU use bench/bench.py." >&2
  exit 2
fi
mkdir -p "$RES"

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
"$PY" -c "import sys, torch, transformers; print('python', sys.version.split()[0], 'torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.version.cuda)"

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

left() { echo $(( BUDGET_S - ($(date +%s) - START) )); }

run() {  # run NAME TIMEOUT_S bench.py-args...   (the timeout shrinks to what is left of the budget)
  local name=$1 limit=$2; shift 2
  local rest; rest=$(left)
  [ "$limit" -gt "$rest" ] && limit=$rest
  echo
  echo "== $name  (t+$(( $(date +%s) - START )) s, limit ${limit} s)"
  if [ "$limit" -lt 20 ]; then echo "!! $name skipped: the 5-minute budget is spent"; return; fi
  timeout "$limit" "$PY" bench/bench.py --device cuda --json "$RES/$name.json" "$@" 2>&1 | grep -v "Writing model shards" | tee "$RES/$name.log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || echo "!! $name failed or timed out (exit $rc); continuing"
}

# large, bfloat16, every model resident: ours (CUDA graphs) vs the reference (float32 weights + autocast bf16), 4 takes vs 1
run large-bf16-resident 110 --size large --dtype bfloat16 --placement resident --weights random --repeat 1 --takes-batch 4
# large, bfloat16, offload (each model moves to the GPU only for its stage): its peak memory
run large-bf16-offload 55 --size large --dtype bfloat16 --placement offload --weights random --repeat 1 --takes-batch 1 --skip-reference
# small, bfloat16, resident: ours vs the reference, and its peak memory
run small-bf16-resident 55 --size small --dtype bfloat16 --placement resident --weights random --repeat 1 --takes-batch 1

# the fixed-shape large coarse step: eager, CUDA graph, torch.compile (+ graph), if the budget allows
limit=$(left); [ "$limit" -gt 120 ] && limit=120
echo
echo "== step fusion, large coarse step, torch.compile  (t+$(( $(date +%s) - START )) s, limit ${limit} s)"
if [ "$limit" -ge 30 ]; then
  timeout "$limit" "$PY" bench/step_fusion.py --size large --device cuda --dtype bfloat16 --steps 30 \
      --mode "${COMPILE_MODE:-max-autotune-no-cudagraphs}" 2>&1 | tee "$RES/step-fusion.log" \
    || echo "!! step fusion failed or timed out; continuing"
else
  echo "!! step fusion skipped: the 5-minute budget is spent"
fi

echo
echo "== summary (t+$(( $(date +%s) - START )) s)"
"$PY" - "$RES" <<'PYEOF'
import json, sys
from pathlib import Path
res = Path(sys.argv[1])
for f in sorted(res.glob("*.json")):
    d = json.loads(f.read_text())
    ref = d.get("reference") or {}
    for dt, o in d.get("ours", {}).items():
        if "error" in o:
            print(f"{f.stem}: ours FAILED: {o['error'].splitlines()[-1][:200]}"); continue
        line = f"{f.stem}: RTF ours {o['rtf']:.3f} (no decode {o['rtf_no_decode']:.3f})"
        if "rtf_no_decode" in ref:
            line += f", reference {ref['rtf_no_decode']:.3f} (no decode) -> x{ref['rtf_no_decode'] / o['rtf_no_decode']:.2f}"
        line += f", peak GPU {o['gpu_peak_1take'] / 2**30:.2f} GiB (held after load {o.get('gpu_after_load', -1) / 2**30:.2f})"
        if ref.get("gpu_peak_1take"):
            line += f", reference peak {ref['gpu_peak_1take'] / 2**30:.2f} GiB"
        if "batch_throughput_ratio" in o:
            line += f", {o['batch_takes']} takes throughput x{o['batch_throughput_ratio']:.2f} (peak {o['gpu_peak_batch'] / 2**30:.2f} GiB)"
        print(line)
print("targets (issue 14): large resident RTF <= 0.1; peak <= 3.5 GiB resident, <= 1.5 GiB offloaded, <= 1 GiB small")
fusion = res / "step-fusion.log"
if fusion.is_file():
    for line in fusion.read_text().splitlines():
        if "ms/step" in line or "unavailable" in line:
            print("step:", line.strip())
PYEOF
