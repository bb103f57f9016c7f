"""Load on a shared studio: many gradio_client clients at once against a queue smaller than the load.

Every request must either complete with its own audio or be refused with the queue-full message;
none may hang (bounded waits), be lost, or receive another client's audio (each client's returned
files are checked against its own /history rows: same prompt, same seed, same bytes).

    python bench/load_test.py --clients 20 --requests 3 --queue-size 5            # tiny random model
    python bench/load_test.py --url http://127.0.0.1:7860/ --clients 8 --requests 2  # a running studio

Without --url it builds tiny test weights and launches the studio in-process on loopback.
Prints completed, refused, and p50/p95 of the wait (submit -> result) in seconds.

--throughput measures the engine itself serving many users (issue 15): jobs per minute and the
wait (submit -> result) p50/p95 for 1, 4 and 8 concurrent users, each sending jobs back to back,
with batching off (one job at a time, as the studio's queue runs them) and on (BatchingEngine):

    python bench/load_test.py --throughput                               # tiny random weights
    python bench/load_test.py --throughput --weights small --max-seconds 2   # small-shaped random weights
    python bench/load_test.py --throughput --models /path/to/bark-small --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class Outcome:
    client: int
    request: int
    prompt: str
    seed: int
    status: str  # "completed", "refused", "error", "timeout"
    wait_s: float
    files: list[str] = field(default_factory=list)
    detail: str = ""


def _one_client(url: str, index: int, n_requests: int, timeout: float, out: list[Outcome], clients_out: dict,
                lock: threading.Lock) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError
    from gradio_client.utils import QueueError

    client = Client(url, verbose=False)
    mine: list[Outcome] = []
    for r in range(n_requests):
        prompt, seed = f"Client {index} says line {r}.", 1000 * index + r
        t0 = time.monotonic()
        job = None
        try:
            job = client.submit(text=prompt, seed=seed, api_name="/generate")  # may itself say "queue full"
            files, _scores = job.result(timeout=timeout)
            o = Outcome(index, r, prompt, seed, "completed", time.monotonic() - t0, list(files))
        except QueueError as e:
            o = Outcome(index, r, prompt, seed, "refused", time.monotonic() - t0, detail=str(e))
        except TimeoutError:
            if job is not None:
                job.cancel()
            o = Outcome(index, r, prompt, seed, "timeout", time.monotonic() - t0)
        except (AppError, Exception) as e:  # noqa: BLE001 - reported, never swallowed
            text = str(e)
            status = "refused" if "queue is full" in text.lower() else "error"
            o = Outcome(index, r, prompt, seed, status, time.monotonic() - t0, detail=f"{type(e).__name__}: {text}")
        mine.append(o)
    with lock:
        out.extend(mine)
        clients_out[index] = client


def _check_history(index: int, client, mine: list[Outcome], problems: list[str]) -> None:
    """Nothing lost, nothing crossed: this client's history is exactly its completed requests, byte for byte.

    Run after the load: gradio_client sends even /history through the queue, which a full queue refuses.
    """
    rows, hist_files = client.predict(limit=200, api_name="/history")
    done = [o for o in mine if o.status == "completed"]
    if sorted(r["prompt"] for r in rows) != sorted(o.prompt for o in done):
        problems.append(f"client {index}: history {[r['prompt'] for r in rows]} != completed {[o.prompt for o in done]}")
    by_prompt = {r["prompt"]: r for r in rows}
    for o in done:
        row = by_prompt.get(o.prompt)
        if row is None:
            continue
        if row["seed"] != o.seed:
            problems.append(f"client {index}: {o.prompt!r} has seed {row['seed']}, sent {o.seed}")
        theirs = [hist_files[t["file_index"]] for t in row["takes"]]
        if len(theirs) != len(o.files) or any(Path(a).read_bytes() != Path(b).read_bytes()
                                              for a, b in zip(o.files, theirs)):
            problems.append(f"client {index}: audio returned for {o.prompt!r} is not its own history's")


def run_load(url: str, clients: int = 20, requests: int = 3, timeout: float = 120.0) -> dict:
    """Run the load; returns counts, wait percentiles, every outcome and any isolation problems."""
    out: list[Outcome] = []
    problems: list[str] = []
    clients_out: dict = {}
    lock = threading.Lock()
    threads = [threading.Thread(target=_one_client, args=(url, i, requests, timeout, out, clients_out, lock),
                                daemon=True) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout * requests + 60)
    hung = sum(t.is_alive() for t in threads)
    wall = time.monotonic() - t0
    for index, client in sorted(clients_out.items()):
        _check_history(index, client, [o for o in out if o.client == index], problems)
    waits = sorted(o.wait_s for o in out if o.status == "completed")

    def pct(p: float) -> Optional[float]:
        return round(waits[min(len(waits) - 1, int(p * len(waits)))], 3) if waits else None

    counts = {s: sum(o.status == s for o in out) for s in ("completed", "refused", "error", "timeout")}
    return dict(**counts, expected=clients * requests, returned=len(out), hung_clients=hung, p50_wait_s=pct(0.5),
                p95_wait_s=pct(0.95), wall_s=round(wall, 2), problems=problems, outcomes=out)


def machine() -> str:
    """The CPU (and GPU) this ran on, for the printed figures."""
    import torch

    from bark_core.precision import cpu_model

    text = f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name(0)}"
    return text


def _percentile(values: list[float], p: float) -> Optional[float]:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p * len(values)))], 3) if values else None


def run_throughput(engine, users: int, jobs_per_user: int, make_request) -> dict:
    """``users`` threads each send ``jobs_per_user`` jobs back to back; jobs/minute and wait percentiles."""
    waits: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(users)

    def user(u: int) -> None:
        barrier.wait()
        for j in range(jobs_per_user):
            t0 = time.monotonic()
            try:
                engine.generate(make_request(u, j))
            except Exception as e:  # noqa: BLE001 - counted and printed
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
                continue
            with lock:
                waits.append(time.monotonic() - t0)

    threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in range(users)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    return dict(users=users, jobs=len(waits), errors=errors, wall_s=round(wall, 2),
                jobs_per_min=round(60 * len(waits) / wall, 2), p50_wait_s=_percentile(waits, 0.5),
                p95_wait_s=_percentile(waits, 0.95))


def throughput_main(args: argparse.Namespace) -> int:
    import torch

    from bark_core import GenerationRequest
    from bark_core.engine import Engine, EngineSettings
    from bark_core.scheduler import BatchingEngine
    from bark_core.testweights import write_test_weights

    if args.threads:
        torch.set_num_threads(args.threads)
    models = args.models
    if models is None:
        tmp = Path(tempfile.mkdtemp(prefix="bark-throughput-"))
        models = str(write_test_weights(tmp / "models", size=args.weights, fmt="native", seed=0))
    extra = {"row_exact": args.row_exact} if args.row_exact else {}  # rows one by one (exact) or fused batches
    engine = Engine.load(EngineSettings(models=models, offline=True, device=args.device, dtype=args.dtype, **extra))
    users_list = [int(u) for u in args.users.split(",")]
    max_batch = args.max_batch or max(users_list)

    def make_request(u: int, j: int) -> GenerationRequest:
        return GenerationRequest(text=f"User {u} asks for line {j}, please.", seed=1000 * u + j,
                                 max_seconds=args.max_seconds, early_stop=False)  # every job the same length

    engine.generate(make_request(0, 0))  # warm up (allocations, kernels)
    info = engine.info()
    info["row_exact"] = getattr(engine, "row_exact", None)
    print(f"machine: {machine()}")
    print(f"models: {info['size']} ({'random weights' if args.models is None else models}), device {info['device']}, "
          f"{info['dtype']}, rows one by one (exact): {info['row_exact']}; {args.max_seconds} s of audio per job, early stop off; "
          f"{args.jobs_per_user} jobs per user back to back; batching on = BatchingEngine(max_batch={max_batch}, "
          f"max_wait={args.batch_wait_ms} ms)")
    print(f"{'users':>5} {'batching':>8} {'jobs/min':>9} {'p50 wait s':>11} {'p95 wait s':>11} {'wall s':>8}  errors")
    results = []
    for users in users_list:
        row = {}
        for mode, batch in (("off", 1), ("on", max_batch)):
            with BatchingEngine(engine, max_batch=batch, max_wait_s=args.batch_wait_ms / 1000) as served:
                r = run_throughput(served, users, args.jobs_per_user, make_request)
            r["batching"] = mode
            row[mode] = r
            results.append(r)
            print(f"{users:>5} {mode:>8} {r['jobs_per_min']:>9} {r['p50_wait_s']!s:>11} {r['p95_wait_s']!s:>11} "
                  f"{r['wall_s']:>8}  {len(r['errors'])}")
            for e in r["errors"][:3]:
                print(f"      ! {e}")
        if row["off"]["jobs_per_min"]:
            print(f"      batching on / off throughput at {users} users: "
                  f"{row['on']['jobs_per_min'] / row['off']['jobs_per_min']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(machine=machine(), info=info, results=results), indent=2,
                                              default=str))
    return 0 if not any(r["errors"] for r in results) else 1


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    t = p.add_argument_group("--throughput: the engine serving many users, batching off and on")
    t.add_argument("--throughput", action="store_true", help="measure jobs/minute and waits instead of the studio load")
    t.add_argument("--users", default="1,4,8", help="concurrent users to measure (default 1,4,8)")
    t.add_argument("--jobs-per-user", type=int, default=2)
    t.add_argument("--weights", choices=["tiny", "small", "large"], default="tiny",
                   help="random weights of this shape when --models is not given (default tiny)")
    t.add_argument("--max-batch", type=int, default=None, help="rows per batch when on (default: the most users)")
    t.add_argument("--batch-wait-ms", type=float, default=50)
    t.add_argument("--device", default="auto")
    t.add_argument("--dtype", default="auto")
    t.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    t.add_argument("--row-exact", choices=["auto", "on", "off"], default=None,
                   help="the engine's row_exact setting: off fuses a batch's rows into one matmul (default: the engine's)")
    p.add_argument("--url", help="a running studio; default: launch one on tiny random weights")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--requests", type=int, default=3, help="requests per client, one after another")
    p.add_argument("--queue-size", type=int, default=5, help="queue size of the launched studio")
    p.add_argument("--max-seconds", type=float, default=0.3, help="audio length per request (launched studio, and each --throughput job)")
    p.add_argument("--timeout", type=float, default=120.0, help="longest wait for one request")
    p.add_argument("--models", help="weights for the launched studio (default: tiny test weights)")
    p.add_argument("--json", help="also write the summary here")
    args = p.parse_args(argv)
    if args.throughput:
        return throughput_main(args)

    demo = None
    url = args.url
    if url is None:
        import webui
        from bark_core.engine import Engine, EngineSettings
        from bark_core.testweights import write_test_weights

        tmp = Path(tempfile.mkdtemp(prefix="bark-load-"))
        models = args.models or str(write_test_weights(tmp / "models", size="tiny", fmt="native", seed=0))
        engine = Engine.load(EngineSettings(models=models, offline=True, device="cpu"))
        demo = webui.build_demo(engine, data_dir=tmp / "data", queue_size=args.queue_size,
                                request_defaults={"max_seconds": args.max_seconds})
        _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True,
                                **webui.launch_options(tmp / "data"))
    try:
        res = run_load(url, args.clients, args.requests, args.timeout)
    finally:
        if demo is not None:
            demo.close()
    summary = {k: v for k, v in res.items() if k != "outcomes"}
    print(f"{args.clients} clients x {args.requests} requests against {url} (queue size {args.queue_size}):")
    print(f"  completed {res['completed']}, refused (queue full) {res['refused']}, errors {res['error']}, "
          f"timeouts {res['timeout']}, hung clients {res['hung_clients']}, "
          f"returned {res['returned']}/{res['expected']}")
    print(f"  wait p50 {res['p50_wait_s']} s, p95 {res['p95_wait_s']} s, wall {res['wall_s']} s")
    for o in res["outcomes"]:
        if o.status in ("error", "timeout"):
            print(f"  ! client {o.client} request {o.request}: {o.status} {o.detail}")
    for prob in res["problems"]:
        print(f"  ! {prob}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    ok = res["returned"] == res["expected"] and not res["problems"] and res["error"] == res["timeout"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
