"""Load on a shared studio: many gradio_client clients at once against a queue smaller than the load.

Every request must either complete with its own audio or be refused with the queue-full message;
none may hang (bounded waits), be lost, or receive another client's audio (each client's returned
files are checked against its own /history rows: same prompt, same seed, same bytes).

    python bench/load_test.py --clients 20 --requests 3 --queue-size 5            # tiny random model
    python bench/load_test.py --url http://127.0.0.1:7860/ --clients 8 --requests 2  # a running studio

Without --url it builds tiny test weights and launches the studio in-process on loopback.
Prints completed, refused, and p50/p95 of the wait (submit -> result) in seconds.
"""

from __future__ import annotations

import argparse
import json
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
            files = job.result(timeout=timeout)
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


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="a running studio; default: launch one on tiny random weights")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--requests", type=int, default=3, help="requests per client, one after another")
    p.add_argument("--queue-size", type=int, default=5, help="queue size of the launched studio")
    p.add_argument("--max-seconds", type=float, default=0.3, help="audio length per request (launched studio)")
    p.add_argument("--timeout", type=float, default=120.0, help="longest wait for one request")
    p.add_argument("--models", help="weights for the launched studio (default: tiny test weights)")
    p.add_argument("--json", help="also write the summary here")
    args = p.parse_args(argv)

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
