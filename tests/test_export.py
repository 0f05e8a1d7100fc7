"""The decoders exported to ONNX: onnxruntime decodes like torch for every shipped model, and the export
cache is keyed by the checkpoint's fingerprint, repairs itself and never reads a checkpoint's own .onnx."""

import hashlib
import shutil
import threading
import time
from pathlib import Path

import onnxruntime
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import genviz
from genviz.checkpoint import WEIGHTS_FILE, fingerprint, load_model
from genviz.export import INPUT, OUTPUT, ExportError, cached_decoder, decoder_onnx
from genviz.folders import find_checkpoints

CHECKPOINTS = Path(__file__).parent.parent / "checkpoints"
SHIPPED = [
    "mnist-ae",
    "mnist-dae",
    "mnist-sparse-ae",
    "mnist-cae",
    "mnist-vae",
    "mnist-beta-vae",
    "mnist-beta-vae-free-bits",
    "mnist-cvae",
    "mnist-gan",
    "mnist-wgan-gp",
    "mnist-progan",
    "cifar10-ae",
    "cifar10-vae",
    "cifar10-progan",
]
# Brought as ONNX: their decoder.onnx is the model, not an export (its parity with its source: tests/test_bring.py,
# and the check figures on their cards).
BROUGHT = ["mnist-pytorch-vae", "cifar10-diffusers-vae"]


def onnx_decode(data: bytes, z: torch.Tensor) -> torch.Tensor:
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    (images,) = session.run([OUTPUT], {INPUT: z.numpy()})
    return torch.from_numpy(images)


def test_shipped_models_are_the_explorable_ones():
    explorable = [p.name for p in find_checkpoints(CHECKPOINTS) if load_model(p, "cpu").explorable]
    assert sorted(explorable) == sorted(SHIPPED + BROUGHT)


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_onnxruntime_decodes_like_torch(name):
    model = load_model(CHECKPOINTS / name, device="cpu")
    data = decoder_onnx(model)
    z = model.prior(256, torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = model.decode(z)  # (256, C, H, W)
    got = onnx_decode(data, z)
    assert got.shape == want.shape == (256, *model.image_shape)
    assert (got - want).abs().max().item() <= 1e-3
    assert (got[:1] - onnx_decode(data, z[:1])).abs().max().item() <= 1e-5  # the batch size is free: 1 as 256


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A copy of the smallest shipped model, and an empty cache."""
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copytree(CHECKPOINTS / "mnist-ae", tmp_path / "mnist-ae")
    return tmp_path / "mnist-ae"


@pytest.fixture
def exports(monkeypatch):
    """Replaces the exporter with a fast stand-in whose bytes follow the weights; lists the models it exports."""
    calls = []

    def export(model):
        calls.append(model)
        weights = b"".join(t.numpy().tobytes() for t in model.state_dict().values())
        return b"stand-in " + hashlib.sha256(weights).digest()

    monkeypatch.setattr(genviz.export, "decoder_onnx", export)
    return calls


def test_cache_is_keyed_by_fingerprint(folder, tmp_path, exports):
    first = cached_decoder(folder)
    assert first == tmp_path / "cache" / "onnx" / f"{fingerprint(folder)}.onnx"
    data = first.read_bytes()
    assert cached_decoder(folder) == first and len(exports) == 1  # a hit: nothing exported again

    weights = folder / WEIGHTS_FILE
    with safe_open(str(weights), framework="pt") as f:
        state, metadata = {k: f.get_tensor(k) for k in f.keys()}, f.metadata()
    state["decoder.0.bias"] = state["decoder.0.bias"] + 0.5
    save_file(state, str(weights), metadata)
    second = cached_decoder(folder)
    assert len(exports) == 2 and second != first and second.read_bytes() != data
    assert first.read_bytes() == data  # the old export stays for the old weights


@pytest.mark.parametrize("damage", ["truncated", "garbage", "one byte changed", "removed", "digest removed"])
def test_damaged_cache_is_exported_again(folder, exports, damage):
    path = cached_decoder(folder)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00not onnx" * 100)
    elif damage == "one byte changed":  # an ONNX file could still parse: only the recorded digest tells
        path.write_bytes(data[:-10] + bytes([data[-10] ^ 1]) + data[-9:])
    elif damage == "removed":
        path.unlink()
    else:
        path.with_name(path.name + ".sha256").unlink()
    assert cached_decoder(folder) == path
    assert len(exports) == 2 and path.read_bytes() == data


def test_onnx_in_a_checkpoint_folder_is_ignored(folder, tmp_path, exports):
    for name in ("decoder.onnx", "model.onnx"):
        (folder / name).write_bytes(b"\x08\x07hostile graph")
    path = cached_decoder(folder)
    assert path.parent == tmp_path / "cache" / "onnx"
    assert len(exports) == 1 and path.read_bytes().startswith(b"stand-in ")


@pytest.mark.slow
def test_cached_export_decodes_like_torch_and_is_deterministic(folder):
    (folder / "decoder.onnx").write_bytes(b"\x08\x07hostile graph")
    data = cached_decoder(folder).read_bytes()
    model = load_model(folder, "cpu")
    assert decoder_onnx(model) == data  # the same weights, the same bytes
    z = model.prior(16, torch.Generator().manual_seed(1))
    assert (onnx_decode(data, z) - model.decode(z)).abs().max().item() <= 1e-3
    for installed in (genviz, torch):  # what browsers get names no path of this machine
        assert str(Path(installed.__file__).parent.parent).encode() not in data


def test_a_failed_export_raises_export_error(folder, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::mystery\nmore detail")

    monkeypatch.setattr(torch.onnx, "export", refuse)
    with pytest.raises(ExportError, match=r"mnist-ae: its decoder cannot be exported to ONNX \(unsupported operator"):
        cached_decoder(folder)
    assert not list((tmp_path / "cache").rglob("*.onnx"))


def test_exports_in_two_threads_run_one_at_a_time(folder, tmp_path, monkeypatch):
    """torch's exporter swaps Python's max and min process-wide while it runs: two at once can break each other."""
    running, most = [], []

    def export(*args, **kwargs):
        running.append(1)
        most.append(len(running))
        time.sleep(0.2)
        running.pop()
        raise RuntimeError("stopped here")

    monkeypatch.setattr(torch.onnx, "export", export)
    model = load_model(folder)
    errors = []

    def one() -> None:
        try:
            decoder_onnx(model)
        except ExportError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 3 and all("stopped here" in e for e in errors)
    assert max(most) == 1


@pytest.mark.slow
def test_an_export_that_disagrees_with_torch_raises(folder, monkeypatch):
    model = load_model(folder, "cpu")
    real = torch.onnx.export

    def shifted(module, args, **kwargs):  # exports a decoder that is off by 0.01
        module.model.decode = lambda z: torch.sigmoid(module.model.decoder(z)) + 0.01
        try:
            return real(module, args, **kwargs)
        finally:
            del module.model.decode  # torch, which the export is checked against, decodes as before

    monkeypatch.setattr(torch.onnx, "export", shifted)
    with pytest.raises(ExportError, match="differs from torch by 0.01"):
        decoder_onnx(model)


def test_a_model_without_a_latent_space_raises_export_error():
    with pytest.raises(ExportError, match="mnist-classifier: has no decoder"):
        decoder_onnx(load_model(CHECKPOINTS / "mnist-classifier", "cpu"))


@pytest.mark.slow
def test_the_model_is_not_changed(folder):
    model = load_model(folder, "cpu").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    decoder_onnx(model)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
