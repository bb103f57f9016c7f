"""app.py as a Hugging Face Space runs it: the ``spaces`` package installed, SPACE_ID set, no ZeroGPU.

Without ZeroGPU, ``spaces.GPU`` is its CPU fallback: it hands the function back unchanged, so the
studio's engine-driving function runs as it does locally. Also: --max-batch and Reload wiring.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

spaces = pytest.importorskip("spaces", reason="the Hugging Face `spaces` package is not installed (requirements-dev.txt)")

import webui  # noqa: E402
from conftest import api_client, free_port  # noqa: E402

SPACE = {"SPACE_ID": "someone/bark-studio"}


@pytest.fixture
def app_module(monkeypatch, tmp_path):
    import app

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    return app


def test_space_defaults_host_and_data_folder(app_module, monkeypatch, tmp_path):
    app = app_module
    args = app.parse_args([])
    monkeypatch.setattr(app, "_writable", lambda path: False)  # no persistent storage on this Space
    dep = app.resolve_deployment(args, environ=SPACE)
    assert dep["host"] == "0.0.0.0" and dep["on_space"]
    assert dep["data_dir"] == (tmp_path / "tmp" / "bark-studio").resolve()
    monkeypatch.setattr(app, "_writable", lambda path: str(path) == "/data/bark-studio")  # storage enabled
    assert app.resolve_deployment(args, environ=SPACE)["data_dir"] == Path("/data/bark-studio")
    assert app.resolve_deployment(app.parse_args(["--host", "127.0.0.1"]), environ=SPACE)["host"] == "127.0.0.1"


def test_spaces_gpu_is_a_no_op_without_zerogpu(app_module):
    wrap = app_module.gpu_wrapper()
    assert wrap is not None  # the package imports, so the studio asks for a GPU per job...

    def drive(x):
        return x + 1

    assert wrap(drive) is drive  # ...and off ZeroGPU that is the function itself (its CPU fallback)
    assert not app_module.zero_gpu(SPACE) and app_module.zero_gpu({"SPACES_ZERO_GPU": "true"})


def test_a_generation_through_the_space_build(app_module, tiny_native, monkeypatch, tmp_path):
    """build(args, environ={SPACE_ID}) -> model changes off, the temp data folder, a generation that is saved."""

    app = app_module
    monkeypatch.setattr(app, "_writable", lambda path: False)
    args = app.parse_args(["--models", str(tiny_native), "--offline", "--device", "cpu", "--dtype", "float32",
                           "--max-seconds", "0.2"])
    demo, kwargs = app.build(args, environ=SPACE)
    studio = demo.studio
    assert not studio.allow_model_changes
    assert kwargs["server_name"] == "0.0.0.0"
    data_dir = (tmp_path / "tmp" / "bark-studio").resolve()
    assert studio.library.store.root == data_dir
    kwargs.update(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    kwargs.pop("share", None)
    _, url, _ = webui.launch(demo, **kwargs)
    try:
        client = api_client(url)
        files = client.predict(text="Hello from a Space.", seed=3, api_name="/generate")[0]
        assert len(files) == 1 and Path(files[0]).stat().st_size > 44
        rows, _ = client.predict(api_name="/history")
        assert len(rows) == 1 and rows[0]["seed"] == 3
        assert any(data_dir.rglob("*.wav")), "the take was not saved in the Space's data folder"
    finally:
        demo.close()


def test_max_batch_wraps_the_engine_and_reloads_keep_it(app_module, tiny_native, tmp_path):
    from bark_core.scheduler import BatchingEngine

    app = app_module
    args = app.parse_args(["--models", str(tiny_native), "--offline", "--device", "cpu", "--dtype", "float32",
                           "--data-dir", str(tmp_path / "d"), "--max-batch", "3", "--batch-wait-ms", "20"])
    demo, _ = app.build(args, environ={})
    holder = demo.studio.holder
    assert isinstance(holder.engine, BatchingEngine)
    assert holder.engine.max_batch == 3 and holder.engine.max_wait_s == pytest.approx(0.02)
    # twice the batch in flight: the engine's queue has jobs of several owners to choose from
    assert {fn.concurrency_limit for fn in demo.fns.values() if fn.concurrency_id == "engine"} == {6}
    first = holder.engine
    holder.load(holder.settings, lambda message, fraction: None)  # the Models tab's Reload
    assert isinstance(holder.engine, BatchingEngine) and holder.engine is not first
    assert holder.engine.info()["max_batch"] == 3


def test_zerogpu_ignores_max_batch_and_bad_serving_flags_are_refused(app_module, tiny_native, tmp_path):
    app = app_module
    args = app.parse_args(["--models", str(tiny_native), "--offline", "--device", "cpu", "--dtype", "float32",
                           "--data-dir", str(tmp_path / "d"), "--max-batch", "4"])
    demo, _ = app.build(args, environ={**SPACE, "SPACES_ZERO_GPU": "true"})
    from bark_core.scheduler import BatchingEngine

    assert not isinstance(demo.studio.holder.engine, BatchingEngine)
    for bad in (["--max-batch", "0"], ["--replicas", "2"], ["--gpus-per-replica", "1"], ["--batch-wait-ms", "-1"]):
        with pytest.raises(SystemExit):
            app.parse_args(bad)


def test_a_space_variable_carries_the_options(app_module):
    """A Space runs `python app.py` with no flags: BARK_STUDIO_ARGS (a Space variable) carries them."""
    app = app_module
    argv = app.command_line([], environ={"BARK_STUDIO_ARGS": "--small --max-seconds 8"})
    args = app.parse_args(argv)
    assert args.small and args.max_seconds == 8
    assert app.command_line(["--offload"], environ={"BARK_STUDIO_ARGS": "--small"}) == ["--small", "--offload"]
    assert app.command_line(["--port", "1"], environ={}) == ["--port", "1"]
