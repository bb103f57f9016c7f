"""Bark Studio: parse arguments -> load the engine -> build the UI -> launch.

    python app.py                       # http://127.0.0.1:7860, weights from the Hugging Face cache
    python app.py --small --offload     # the small models, one stage on the GPU at a time
    python app.py --small-stages fine   # large semantic and coarse models, a small fine one
    python app.py --models /path/to/folder --device cpu
    python app.py --host 0.0.0.0 --auth alice:secret --queue-size 32
    python app.py --max-batch 4         # many users: up to 4 waiting generations run as one batch
    python app.py --ray --replicas 2 --gpus-per-replica 1 --max-batch 4   # Ray Serve, one replica per GPU
    python app.py --ray auto --replicas 4   # join the Ray cluster this machine belongs to (ray start ...)

This is the only module that reads environment variables (SPACE_ID, SPACES_ZERO_GPU, BARK_STUDIO_ARGS:
options for a Space, where no command line can be typed; and whether the ``spaces`` package of
Hugging Face ZeroGPU is importable).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from bark_core import sources
from bark_core.flags import add_engine_arguments, engine_settings
from webui.limits import Limits

log = logging.getLogger("bark_studio")

# flag -> (Limits field, type, metavar, help): each of webui.limits.Limits as a command-line flag
LIMIT_FLAGS = {
    "--max-voices": ("max_voices", int, "N", "stored voices per visitor"),
    "--max-timelines": ("max_timelines", int, "N", "timelines per visitor"),
    "--max-versions": ("max_versions", int, "N", "rendered versions per timeline"),
    "--max-history": ("max_history", int, "N", "generations kept per visitor"),
    "--max-history-mb": ("max_history_mb", float, "MB", "audio of one visitor's history"),
    "--max-data-gb": ("max_data_gb", float, "GB", "the data folder of all visitors together; saves stop beyond it"),
    "--saves-per-minute": ("saves_per_minute", int, "N", "saving actions (clone, save a voice, timelines) per visitor"),
    "--saves-per-minute-per-address": ("saves_per_minute_per_address", int, "N",
                                       "saving actions per client address (all its visitors together)"),
    "--export-keep-s": ("export_keep_s", float, "S", "how long a prepared download is kept"),
    "--export-max-mb": ("export_max_mb", float, "MB", "prepared downloads of all visitors together"),
}

def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Bark Studio: a local web studio for Suno's Bark text-to-audio model.")
    web = p.add_argument_group("web server")
    web.add_argument("--host", default=None, help="address to bind (default 127.0.0.1; 0.0.0.0 on Spaces)")
    web.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    web.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    web.add_argument("--auth", metavar="USER:PASS", help="require this user name and password")
    web.add_argument("--data-dir", default=None, help="history, voices and previews (default ./data)")
    web.add_argument("--queue-size", type=int, default=20, help="most waiting requests before new ones are refused")
    web.add_argument("--max-upload-mb", type=float, default=8, help="largest accepted upload (voice .npz files)")
    web.add_argument("--max-seconds", type=float, default=None,
                     help="default maximum audio length of each segment (Bark's own limit is about 14 s)")
    serving = p.add_argument_group("serving many users")
    serving.add_argument("--max-batch", type=int, default=1, metavar="N",
                         help="run up to N waiting generations (takes counted) as one batch (default 1: one at a time)")
    serving.add_argument("--batch-wait-ms", type=float, default=50, metavar="MS",
                         help="how long the first waiting generation waits for others to join its batch (default 50)")
    serving.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                         help="run the engine as Ray Serve replicas (pip install \"ray[serve]==2.60.0\"); no ADDRESS "
                              "starts a local Ray, 'auto' joins the cluster this machine belongs to (ray start)")
    serving.add_argument("--replicas", type=int, default=1, metavar="N", help="engine replicas with --ray (default 1)")
    serving.add_argument("--gpus-per-replica", type=float, default=None, metavar="F",
                         help="GPUs each replica reserves (default 1 when this machine has a CUDA GPU, else 0)")
    serving.add_argument("--cpus-per-replica", type=float, default=1, metavar="F",
                         help="CPUs each replica reserves (default 1)")
    limits = p.add_argument_group("limits per visitor (an open studio's disk use; see README)")
    for flag, (field, kind, unit, help_) in LIMIT_FLAGS.items():
        limits.add_argument(flag, type=kind, default=getattr(Limits(), field), metavar=unit,
                            help=f"{help_} (default %(default)s)")
    add_engine_arguments(p)
    args = p.parse_args(argv)
    for flag, (field, *_) in LIMIT_FLAGS.items():
        if not getattr(args, field) > 0:
            p.error(f"{flag} must be positive")
    if args.max_batch < 1:
        p.error("--max-batch must be at least 1")
    if not 0 <= args.batch_wait_ms <= 10_000:
        p.error("--batch-wait-ms must be between 0 and 10000")
    if args.replicas < 1:
        p.error("--replicas must be at least 1")
    if args.ray is None and (args.replicas != 1 or args.gpus_per_replica is not None):
        p.error("--replicas and --gpus-per-replica need --ray")
    return args


def limits_from_args(args: argparse.Namespace) -> Limits:
    """The ``--max-voices``... flags as ``build_demo(limits=...)``."""
    return Limits(**{field: getattr(args, field) for field, *_ in LIMIT_FLAGS.values()})


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
        return True
    except OSError:
        return False


def resolve_deployment(args: argparse.Namespace, environ: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """Host, data dir and flags, taking Hugging Face Spaces into account."""
    env = os.environ if environ is None else environ
    on_space = bool(env.get("SPACE_ID"))
    host = args.host or ("0.0.0.0" if on_space else "127.0.0.1")
    if args.data_dir:
        data_dir = Path(args.data_dir)
    elif on_space:
        # /data is the persistent storage of a Space (when enabled); otherwise a temp folder.
        data_dir = Path("/data/bark-studio") if _writable(Path("/data/bark-studio")) else \
            Path(tempfile.gettempdir()) / "bark-studio"
    else:
        data_dir = Path("data")
    return dict(host=host, data_dir=data_dir.resolve(), on_space=on_space)


def zero_gpu(environ: Optional[dict[str, str]] = None) -> bool:
    """Whether this is a Hugging Face ZeroGPU Space (the GPU is lent per call, in another process)."""
    env = os.environ if environ is None else environ
    return env.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def batching(engine: Any, args: argparse.Namespace) -> Any:
    """The engine, behind a BatchingEngine when --max-batch is above 1."""
    if engine is None or args.max_batch <= 1:
        return engine
    from bark_core.scheduler import BatchingEngine

    return BatchingEngine(engine, max_batch=args.max_batch, max_wait_s=args.batch_wait_ms / 1000)


def batching_loader(args: argparse.Namespace):
    """The holder's loader for Reload in the Models tab: a new engine, wrapped like the first one."""
    def load(settings, on_progress):
        from bark_core import Engine

        return batching(Engine.load(settings, on_progress=on_progress), args)

    return load


def ray_engine(settings, args: argparse.Namespace):
    """The Ray Serve deployment's front-end proxy (bark_core.ray_engine); ValueError with a sentence on failure."""
    from bark_core.ray_engine import RayOptions, deploy

    gpus = args.gpus_per_replica
    if gpus is None:
        import torch

        gpus = 1.0 if settings.device != "cpu" and torch.cuda.is_available() else 0.0
    options = RayOptions(address=None if args.ray == "local" else args.ray, replicas=args.replicas,
                         gpus_per_replica=gpus, cpus_per_replica=args.cpus_per_replica, max_batch=args.max_batch,
                         max_wait_s=args.batch_wait_ms / 1000)
    log.info("starting %d engine replica(s) on Ray (%s GPU each, batches of up to %d)", args.replicas, gpus,
             args.max_batch)
    return deploy(settings, options)


def gpu_wrapper() -> Optional[Any]:
    """``spaces.GPU`` on Hugging Face ZeroGPU, else None."""
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        return None
    return spaces.GPU(duration=120)


def load_engine(settings) -> tuple[Any, Optional[str]]:
    """The engine, or None and a message for the first-run panel. Never raises for missing weights."""
    from bark_core import Engine, WeightsNotFound

    def report(message: str, fraction: float) -> None:
        log.info("%3.0f%% %s", 100 * (fraction or 0), message)

    try:
        engine = Engine.load(settings, on_progress=report)
    except WeightsNotFound as e:
        log.warning("weights not found: %s", e)
        return None, str(e)
    slow = engine.info()["precision_warning"]
    if slow:
        log.warning("%s", slow)
    return engine, None


def hub_reachable(timeout: float = 1.5) -> bool:
    """Whether the Hugging Face Hub accepts a connection within ``timeout`` seconds (``bark_core.sources``)."""
    return sources.hub_reachable(timeout)


def build(args: argparse.Namespace, environ: Optional[dict[str, str]] = None):
    """Everything but launching: returns (demo, launch keyword arguments)."""
    import webui

    dep = resolve_deployment(args, environ)
    settings = engine_settings(args)
    env = os.environ if environ is None else environ
    if not settings.offline and not env.get("HF_HUB_OFFLINE") and not hub_reachable():
        # Detected at once, instead of ~24 s of Hub retries before the first page (and on every Download).
        log.warning("The Hugging Face Hub cannot be reached: running offline (local folders and the Hub cache only).")
        settings = replace(settings, offline=True)
    defaults = {"max_seconds": args.max_seconds} if args.max_seconds else None
    if args.ray:
        # The replicas hold the models; the front end keeps history, auth, the queue and per-user state.
        try:
            engine = ray_engine(settings, args)
        except ValueError as e:
            raise SystemExit(str(e)) from None
        error, loader, gpu_wrap = None, None, None
        allow_changes = False  # the replicas were started with these settings; restart to change them
        concurrency = args.replicas * args.max_batch
    else:
        if args.max_batch > 1 and zero_gpu(env):
            log.warning("--max-batch is ignored on ZeroGPU: each job gets the GPU on its own there.")
            args = argparse.Namespace(**{**vars(args), "max_batch": 1})
        engine, error = load_engine(settings)
        engine = batching(engine, args)
        loader = batching_loader(args) if args.max_batch > 1 else None
        # with batching, twice the batch may wait inside the engine's queue, which serves owners in turn
        # (Gradio's own queue in front of it is first come, first served)
        gpu_wrap, allow_changes = gpu_wrapper(), not dep["on_space"]
        concurrency = 2 * args.max_batch if args.max_batch > 1 else 1
    demo = webui.build_demo(engine, data_dir=dep["data_dir"], settings=settings, load_error=error,
                            allow_model_changes=allow_changes, queue_size=args.queue_size,
                            request_defaults=defaults, gpu_wrap=gpu_wrap, loader=loader,
                            engine_concurrency=concurrency, limits=limits_from_args(args))
    kwargs = webui.launch_options(dep["data_dir"], max_upload_bytes=int(args.max_upload_mb * 2**20),
                                  auth_required=bool(args.auth), cross_site=dep["on_space"])
    kwargs.update(server_name=dep["host"], server_port=args.port, share=args.share)
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep or not user or not password:
            raise SystemExit("--auth needs USER:PASS")
        kwargs["auth"] = (user, password)
    return demo, kwargs


ARGS_VARIABLE = "BARK_STUDIO_ARGS"


def command_line(argv: Optional[list[str]] = None, environ: Optional[dict[str, str]] = None) -> list[str]:
    """The options: ``BARK_STUDIO_ARGS`` (e.g. a Space variable "--small", where no flags can be typed), then argv."""
    env = os.environ if environ is None else environ
    extra = shlex.split(env.get(ARGS_VARIABLE, ""))
    return extra + list(sys.argv[1:] if argv is None else argv)


def main(argv: Optional[list[str]] = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(command_line(argv))
    if args.share and not args.auth:
        print("WARNING: --share without --auth makes this studio (and your GPU) usable by anyone with the link. "
              "Add --auth USER:PASS.", file=sys.stderr)
    demo, kwargs = build(args)
    import webui

    webui.launch(demo, **kwargs)


if __name__ == "__main__":
    main()
