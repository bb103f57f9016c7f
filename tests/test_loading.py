"""Loading weights in every format, conversion, codec, tokenizer and weight sources."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from bark_core import checkpoints as ck
from bark_core.checkpoints import CheckpointError, detect_format, load_stage
from bark_core.conversion import cached_native, convert
from bark_core.codec import Codec, load_codec
from bark_core.sources import WeightsNotFound, choose_file_set, resolve_codec, resolve_models, resolve_tokenizer
from bark_core.testweights import write_test_weights
from bark_core.tokenizer import TextTokenizer

torch.manual_seed(0)
SEM_IDX = torch.randint(0, 129_600, (2, 256 + 256 + 5))  # merged text + history context, then 5 more
COARSE_IDX = torch.randint(0, 12_096, (2, 40))
FINE_IDX = torch.randint(0, 1_056, (2, 50, 8))


def load_models(folder, dtype: torch.dtype = torch.float32, stages=ck.STAGES) -> dict:
    """Each stage's model from ``folder``, as the engine loads them (``load_stage``)."""
    return {stage: load_stage(folder, stage, dtype=dtype) for stage in stages}


def _logits(models: dict) -> dict[str, torch.Tensor]:
    with torch.inference_mode():
        return {
            "semantic": models["semantic"](SEM_IDX, merge_context=True),
            "coarse": models["coarse"](COARSE_IDX),
            "fine": torch.stack([models["fine"](i, FINE_IDX) for i in range(1, 8)]),
        }


@pytest.fixture(scope="module")
def original_logits(tiny_original):
    return _logits(load_models(tiny_original))


def _link_copy(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> Path:
    """A copy of a model folder made of symlinks (cheap), leaving out ``skip``."""
    dst.mkdir(parents=True)
    for p in src.iterdir():
        if p.name not in skip:
            os.symlink(p, dst / p.name)
    return dst


# --------------------------------------------------------------------------- formats and parity


def test_detect_format(tiny_original, tiny_transformers, tiny_native, tmp_path):
    assert detect_format(tiny_original) == "original"
    assert detect_format(tiny_transformers) == "transformers"
    assert detect_format(tiny_native) == "native"
    with pytest.raises(CheckpointError, match="no Bark weights"):
        detect_format(tmp_path)


def test_models_are_eval_frozen_and_tied(tiny_original):
    models = load_models(tiny_original, stages=("fine",))
    fine = models["fine"]
    assert set(models) == {"fine"} and not fine.training
    assert all(not p.requires_grad for p in fine.parameters())
    assert all(p.device.type == "cpu" for p in fine.parameters())
    assert fine.transformer.wtes[3].weight is fine.lm_heads[2].weight


def test_original_bit_identical_to_reference(tiny_original, reference_bark, original_logits):
    from bark.model import GPT as RefGPT, GPTConfig as RefConfig

    with torch.serialization.safe_globals(ck.pickle_allowlist()):
        coarse = reference_bark._load_model(str(tiny_original / "coarse.pt"), "cpu", use_small=True, model_type="coarse")
        fine = reference_bark._load_model(str(tiny_original / "fine.pt"), "cpu", use_small=True, model_type="fine")
        ckpt = torch.load(tiny_original / "text.pt", map_location="cpu")  # _load_model("text") needs the Hub tokenizer
    text = RefGPT(RefConfig(**ckpt["model_args"]))
    sd = {k.removeprefix("_orig_mod."): v for k, v in ckpt["model"].items() if not k.endswith(".attn.bias")}
    text.load_state_dict(sd)
    text.eval()
    with torch.inference_mode():
        ref_sem, _ = text(SEM_IDX, merge_context=True)
        ref_coarse, _ = coarse(COARSE_IDX)
        ref_fine = torch.stack([fine(i, FINE_IDX) for i in range(1, 8)])
    assert torch.equal(original_logits["semantic"], ref_sem[:, -1])
    assert torch.equal(original_logits["coarse"], ref_coarse[:, -1])
    assert torch.equal(original_logits["fine"], ref_fine)


def test_transformers_format_matches_transformers_bark(tiny_transformers):
    from transformers import BarkModel

    hf = BarkModel.from_pretrained(str(tiny_transformers), local_files_only=True).eval()
    ours = _logits(load_models(tiny_transformers))
    with torch.inference_mode():
        sem_ids = torch.randint(0, 10_000, (2, 30))
        ref_sem = hf.semantic(input_ids=sem_ids).logits[:, -1]
        our_sem = load_stage(tiny_transformers, "semantic")(sem_ids)
        ref_coarse = hf.coarse_acoustics(input_ids=COARSE_IDX).logits[:, -1]
        ref_fine = torch.stack([hf.fine_acoustics(i, input_ids=FINE_IDX).logits for i in range(1, 8)])
    torch.testing.assert_close(our_sem, ref_sem, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours["coarse"], ref_coarse, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours["fine"], ref_fine, atol=1e-5, rtol=1e-5)


def test_every_format_gives_the_same_logits(tiny_transformers, tiny_native, original_logits, tmp_path):
    binary = write_test_weights(tmp_path / "bin", fmt="transformers", weights_file="pytorch_model.bin")
    for folder in (tiny_transformers, tiny_native, binary):
        got = _logits(load_models(folder))
        for stage in ck.STAGES:
            assert torch.equal(got[stage], original_logits[stage]), (folder, stage)


@pytest.mark.parametrize("src_name", ["original", "transformers"])
def test_convert_round_trip(src_name, tiny_original, tiny_transformers, original_logits, tmp_path):
    src = {"original": tiny_original, "transformers": tiny_transformers}[src_name]
    dst = convert(src, tmp_path / "native")
    assert detect_format(dst) == "native"
    for name in ("vocab.txt", "codec/config.json", "speaker_embeddings_path.json", "speaker_embeddings/v2"):
        assert (dst / name).exists(), name
    assert not list(tmp_path.glob(".*tmp*")), "temporary folder left behind"
    got = _logits(load_models(dst))
    for stage in ck.STAGES:
        assert torch.equal(got[stage], original_logits[stage])
    with pytest.raises(CheckpointError, match="already exists"):
        convert(src, dst)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_native(dtype, tiny_original, original_logits, tmp_path):
    dst = convert(tiny_original, tmp_path / "half", dtype=dtype)
    assert (dst / "fine.safetensors").stat().st_size < (tiny_original / "fine.pt").stat().st_size * 0.7
    half = load_models(dst, dtype=dtype)
    assert all(p.dtype == dtype for m in half.values() for p in m.parameters())
    back = _logits(load_models(dst))  # stored half, computed in float32
    for stage in ck.STAGES:
        torch.testing.assert_close(back[stage], original_logits[stage], atol=0.1, rtol=0.05)


def test_transformers_without_codec_folder_extracts_embedded_codec(tiny_transformers, tmp_path):
    src = _link_copy(tiny_transformers, tmp_path / "src", skip=("codec",))
    dst = convert(src, tmp_path / "native")
    codes = torch.randint(0, 1024, (1, 8, 6))
    a = Codec.from_folder(dst / "codec").decode(codes)
    b = Codec.from_folder(tiny_transformers / "codec").decode(codes)
    assert torch.equal(a, b)


def test_cached_native_converts_once(tiny_original, tiny_native, tmp_path):
    cache = tmp_path / "cache"
    first = cached_native(tiny_original, cache)
    assert detect_format(first) == "native" and first.parent == cache
    stamp = (first / "bark_core.json").stat().st_mtime_ns
    again = cached_native(tiny_original, cache)
    assert again == first and (again / "bark_core.json").stat().st_mtime_ns == stamp
    assert cached_native(tiny_native, cache) == tiny_native


# --------------------------------------------------------------------------- strictness and safety


def test_strict_keys_are_named(tiny_native, tmp_path):
    from safetensors.torch import save_file

    folder = _link_copy(tiny_native, tmp_path / "bad", skip=("coarse.safetensors",))
    sd = ck.read_safetensors(tiny_native / "coarse.safetensors")
    del sd["transformer.h.1.ln_1.weight"]
    sd["foo"] = torch.zeros(1)
    sd["transformer.wte.weight"] = torch.zeros(10, 32)
    save_file(sd, str(folder / "coarse.safetensors"))
    with pytest.raises(CheckpointError) as e:
        load_stage(folder, "coarse")
    msg = str(e.value)
    assert msg.startswith("coarse")
    assert "missing transformer.h.1.ln_1.weight" in msg
    assert "unexpected foo" in msg
    assert "transformer.wte.weight has shape (10,32), expected (12096,32)" in msg


def test_truncated_files_name_the_file(tiny_original, tiny_native, tmp_path):
    folder = _link_copy(tiny_original, tmp_path / "trunc", skip=("text.pt",))
    data = (tiny_original / "text.pt").read_bytes()
    (folder / "text.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"text\.pt is truncated or corrupt"):
        load_stage(folder, "semantic")
    folder = _link_copy(tiny_native, tmp_path / "trunc2", skip=("fine.safetensors",))
    data = (tiny_native / "fine.safetensors").read_bytes()
    (folder / "fine.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match=r"fine\.safetensors is truncated or corrupt"):
        load_stage(folder, "fine")


class _Evil:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize("how", ["system", "open"])
def test_malicious_pickle_does_not_run(how, tiny_original, tmp_path):
    marker = tmp_path / "pwned"
    payload = _Evil(os.system, (f"touch {marker}",)) if how == "system" else _Evil(open, (str(marker), "w"))
    folder = _link_copy(tiny_original, tmp_path / "evil", skip=("coarse.pt",))
    torch.save({"model_args": {"n_layer": 1}, "model": {}, "x": payload}, folder / "coarse.pt")
    with pytest.raises(CheckpointError, match="Refusing to load .*coarse.pt") as e:
        load_stage(folder, "coarse")
    assert isinstance(e.value, ValueError)
    assert not marker.exists()


def test_pickle_allowlist_accepts_numpy_scalars(tmp_path):
    import zipfile

    path = tmp_path / "x.pt"
    torch.save({"a": np.float64(1.5), "b": torch.ones(2)}, path)
    out = ck.safe_torch_load(path)
    assert float(out["a"]) == 1.5 and torch.equal(out["b"], torch.ones(2))
    # numpy 1 wrote the same scalar as numpy.core.multiarray.scalar (Suno's files)
    old = tmp_path / "np1.pt"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(old, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("data.pkl"):
                assert b"numpy._core.multiarray\nscalar" in data
                data = data.replace(b"numpy._core.multiarray\nscalar", b"numpy.core.multiarray\nscalar")
            zout.writestr(info, data)
    assert float(ck.safe_torch_load(old)["a"]) == 1.5


# --------------------------------------------------------------------------- codec and tokenizer


def test_codec_decodes_and_embedded_codec_matches(tiny_transformers):
    folder_codec = Codec.from_folder(tiny_transformers / "codec")
    embedded = Codec.from_bark_checkpoint(tiny_transformers)
    codes = torch.randint(0, 1024, (2, 8, 12))
    audio = folder_codec.decode(codes)
    assert audio.shape == (2, 12 * 320) and audio.dtype == torch.float32
    assert torch.isfinite(audio).all() and audio.abs().sum() > 0
    assert torch.equal(audio, embedded.decode(codes))
    assert folder_codec.hop_length == 320 and folder_codec.sample_rate == 24_000
    assert torch.equal(load_codec(tiny_transformers).decode(codes), audio)
    with pytest.raises(ValueError, match=r"\[0, 1024\)"):
        folder_codec.decode(torch.full((1, 8, 3), 1024))
    with pytest.raises(ValueError, match="shape"):
        folder_codec.decode(torch.zeros(1, 2, 3, dtype=torch.long))


def test_tokenizer_from_test_folder(tiny_original):
    tok = TextTokenizer.from_folder(resolve_tokenizer(None, models_folder=tiny_original, offline=True))
    ids = tok.encode("Hello world, the music!")
    assert ids and all(0 <= i < 119_547 for i in ids)
    assert tok.encode("Hello") != tok.encode("hello")  # cased, like bert-base-multilingual-cased
    assert 100 not in tok.encode("Hello world")  # no [UNK]
    assert 101 not in ids and 102 not in ids  # no [CLS]/[SEP]
    with pytest.raises(ValueError, match="no tokenizer"):
        TextTokenizer.from_folder(tiny_original / "codec")


# --------------------------------------------------------------------------- sources


def test_resolve_local_folder(tiny_original, tiny_transformers, tmp_path):
    assert resolve_models(str(tiny_original), offline=True) == tiny_original
    assert resolve_codec(str(tiny_transformers / "codec"), offline=True) == tiny_transformers / "codec"
    with pytest.raises(WeightsNotFound, match="holds no Bark weights"):
        resolve_models(str(tmp_path))
    with pytest.raises(WeightsNotFound, match="does not exist"):
        resolve_models(str(tmp_path / "nope"))


def test_missing_weights_offline_explain_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    cache = tmp_path / "hub"
    with pytest.raises(WeightsNotFound) as e:
        resolve_models(None, small=True, offline=True, cache_dir=cache)
    msg = str(e.value)
    for needle in ("suno/bark-small", "pytorch_model.bin (1.68 GB)", "--models DIR", "python -m bark_core download --small"):
        assert needle in msg
    with pytest.raises(WeightsNotFound, match=r"text_2\.pt \(5\.35 GB\)"):
        resolve_models(None, offline=True, cache_dir=cache)
    with pytest.raises(WeightsNotFound, match="facebook/encodec_24khz"):
        resolve_codec(None, offline=True, cache_dir=cache)
    assert resolve_codec(None, offline=True, cache_dir=cache, required=False) is None
    with pytest.raises(WeightsNotFound, match="bert-base-multilingual-cased"):
        resolve_tokenizer(None, offline=True, cache_dir=cache)


def test_resolve_hub_repo_from_cache_offline(tiny_transformers, tmp_path):
    cache = tmp_path / "hub"
    repo = cache / "models--suno--bark-small"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    _link_copy(tiny_transformers, repo / "snapshots" / commit)
    got = resolve_models(None, small=True, offline=True, cache_dir=cache)
    assert got == repo / "snapshots" / commit and detect_format(got) == "transformers"


def test_choose_file_set():
    bark = ["config.json", "pytorch_model.bin", "text_2.pt", "coarse_2.pt", "fine_2.pt", "text.pt", "coarse.pt",
            "fine.pt", "tokenizer.json", "speaker_embeddings_path.json"]
    fs = choose_file_set(bark, small=False)
    assert fs.fmt == "transformers" and fs.weights == ("config.json", "pytorch_model.bin")
    assert choose_file_set(bark, small=True).weights == ("text.pt", "coarse.pt", "fine.pt")
    small = ["config.json", "pytorch_model.bin", "model.safetensors", "vocab.txt"]
    assert choose_file_set(small, small=True).weights == ("config.json", "model.safetensors")
    with pytest.raises(WeightsNotFound):
        choose_file_set(["README.md"], small=False)
