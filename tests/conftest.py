"""Shared fixtures: offline mode, tiny random Bark folders in every format, the reference."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _offline():
    """No test may touch the network."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("TRANSFORMERS_OFFLINE", "1")
    yield
    mp.undo()


def _tiny(tmp_path_factory, fmt: str, **kwargs) -> Path:
    from bark_core.testweights import write_test_weights

    return write_test_weights(tmp_path_factory.mktemp(f"tiny_{fmt}") / "models", size="tiny", fmt=fmt, seed=0, **kwargs)


@pytest.fixture(scope="session")
def tiny_original(tmp_path_factory) -> Path:
    """Suno-style .pt files (text.pt, coarse.pt, fine.pt) + tokenizer, codec/, speaker embeddings."""
    return _tiny(tmp_path_factory, "original")


@pytest.fixture(scope="session")
def tiny_transformers(tmp_path_factory) -> Path:
    """transformers BarkModel folder (config.json + model.safetensors, codec embedded)."""
    return _tiny(tmp_path_factory, "transformers")


@pytest.fixture(scope="session")
def tiny_native(tmp_path_factory) -> Path:
    """bark_core's own safetensors folder (bark_core.json)."""
    return _tiny(tmp_path_factory, "native")


@pytest.fixture(scope="module")
def exact_engine(tiny_native, tmp_path_factory):
    """The tiny models on the exact placement (CPU float32), where each take is computed as if it were alone."""
    from bark_core.engine import Engine, EngineSettings

    return Engine.load(EngineSettings(models=str(tiny_native), device="cpu", dtype="float32",
                                      cache_dir=str(tmp_path_factory.mktemp("cache"))))


@pytest.fixture(scope="session")
def reference_bark():
    """Suno's ``bark.generation`` imported offline (a stand-in ``encodec`` module; its codec is never called)."""
    if "encodec" not in sys.modules:
        stub = types.ModuleType("encodec")
        stub.EncodecModel = type("EncodecModel", (), {})
        sys.modules["encodec"] = stub
    import bark.generation

    return bark.generation
