"""The CPU precision verdict on this machine (issue 14): what "auto" measures, and how stable it is.

    python bench/bench_precision.py                      # small and large, 3 fresh measurements each
    python bench/bench_precision.py --size small --repeat 5 --json build/precision.json
    python bench/bench_precision.py --budget 3           # a longer measurement than auto's ~1 s

Each repeat is auto's own path, ``precision.cpu_choice``, on an empty temporary cache folder (a
winner other than float32 is measured a second time and must win again), so the
spread across repeats shows how much a verdict depends on the moment it was measured (a shared
CPU's load). Milliseconds are per Linear(n_embd, 4*n_embd) call: "one row" as in a decode step,
"600 rows" as in a prompt. The rule: float32 unless another precision is >= the threshold faster
on both shapes. The CPU model (/proc/cpuinfo) and the load average are printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bark_core import precision  # noqa: E402


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{precision.cpu_model()} ({os.cpu_count()} CPUs, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, load average {load})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=["small", "large", "both"], default="both")
    p.add_argument("--repeat", type=int, default=3, help="fresh measurements per size")
    p.add_argument("--budget", type=float, default=precision.BUDGET_S, help="seconds per measurement (auto: ~1)")
    p.add_argument("--threshold", type=float, default=precision.THRESHOLD)
    p.add_argument("--json", type=Path, help="write every measurement here")
    args = p.parse_args()
    sizes = ["small", "large"] if args.size == "both" else [args.size]
    print(f"machine: {machine()}")
    print(f"rule: float32 unless another precision is >= {args.threshold:g}x faster on both shapes; "
          f"budget {args.budget:g} s per measurement\n")
    results = []
    for size in sizes:
        c = precision.WIDTHS[size]
        print(f"== {size}: Linear {c}->{4 * c}, ms per call (one row | {precision.PROMPT_ROWS} rows)")
        for r in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:  # auto's own path (a winner must win twice), no cache reused
                t0 = time.perf_counter()
                v = precision.cpu_choice(Path(tmp), size, threshold=args.threshold, budget_s=args.budget)
                seconds = time.perf_counter() - t0
            timings = v.timings_ms
            f32 = timings.get("float32", {})
            cells = []
            for name, t in timings.items():
                ratio = " ".join(f"{f32[s] / t[s]:.2f}x" for s in precision.SHAPES if name != "float32" and s in f32)
                cells.append(f"{name} {t['one_row']:.3f} | {t['prompt']:.2f}" + (f" ({ratio})" if ratio else ""))
            print(f"  #{r + 1} {seconds:.2f} s  " + ";  ".join(cells))
            print(f"      -> {v.dtype}  [{precision.cpu_model()}, load {os.getloadavg()[0]:.1f}]")
            results.append(dict(size=size, repeat=r + 1, seconds=round(seconds, 3), timings_ms=timings,
                                verdict=v.dtype, reason=v.reason, load=os.getloadavg()[0]))
        verdicts = [x["verdict"] for x in results if x["size"] == size]
        print(f"  verdicts over {len(verdicts)} measurements: "
              + ", ".join(f"{d} x{verdicts.count(d)}" for d in dict.fromkeys(verdicts)) + "\n")
    print(f"machine after: {machine()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(machine=machine(), cpu=precision.cpu_model(), torch=torch.__version__,
                                             threshold=args.threshold, budget_s=args.budget, results=results), indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
