"""Checkpoint folders: exact round trips, and one clear error type for every broken folder."""

import json
import pickle
import shutil

import pytest
import torch

from genviz import CheckpointError, load_model, save_checkpoint
from genviz.checkpoint import dataset_info, find_checkpoints
from genviz.models import REGISTRY, build_model


def tiny(family="vae", **settings):
    torch.manual_seed(0)
    return build_model(family, REGISTRY[family][1](latent_dim=4, width=8, **settings)).eval()


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "mnist-vae"
    save_checkpoint(tiny(), path, dataset_info("mnist", [str(i) for i in range(10)]))
    return path


@pytest.mark.parametrize("family", REGISTRY)
def test_round_trip_is_exact(tmp_path, family):
    model = tiny(family)
    save_checkpoint(model, tmp_path / family, dataset_info("mnist", ["a", "b"]))
    loaded = load_model(tmp_path / family, device="cpu")
    assert type(loaded) is type(model) and loaded.config == model.config
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    if family == "classifier":
        x = torch.rand(5, 1, 28, 28)
        assert torch.equal(loaded(x), model(x))
    else:
        z = torch.randn(5, 4)
        assert torch.equal(loaded.decode(z), model.decode(z))
    assert loaded.checkpoint["dataset"]["class_names"] == ["a", "b"]


def test_fp16_storage_halves_the_file_and_decodes_closely(tmp_path):
    model = tiny()
    save_checkpoint(model, tmp_path / "full", dataset_info("mnist", []))
    save_checkpoint(model, tmp_path / "half", dataset_info("mnist", []), dtype=torch.float16)
    full, half = (tmp_path / n / "model.safetensors" for n in ("full", "half"))
    assert half.stat().st_size < 0.6 * full.stat().st_size
    z = torch.randn(8, 4)
    loaded = load_model(tmp_path / "half", "cpu")
    assert next(loaded.parameters()).dtype == torch.float32
    assert (loaded.decode(z) - model.decode(z)).abs().max() < 1e-2


def test_saving_writes_card_and_empty_metrics(folder):
    assert json.loads((folder / "metrics.json").read_text()) == {}
    card = (folder / "README.md").read_text()
    assert "variational autoencoder" in card and "training.evaluate" in card
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*"))
    assert all(f.stat().st_mode & 0o777 == 0o644 for f in folder.iterdir())


def test_find_checkpoints_lists_only_checkpoint_folders(folder):
    (folder.parent / "not-a-checkpoint").mkdir()
    assert find_checkpoints(folder.parent) == [folder]


def edit_config(folder, change):
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))


class Payload:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def break_pickle(folder):
    marker = folder.parent / "payload-ran"
    with open(folder / "model.safetensors", "wb") as f:
        pickle.dump({"state_dict": Payload(marker)}, f)
    return marker


def break_torch_save(folder):
    torch.save(tiny().state_dict(), folder / "model.safetensors")


BROKEN = {
    "missing folder": (lambda f: shutil.rmtree(f), "not a checkpoint folder"),
    "no config": (lambda f: (f / "config.json").unlink(), "config.json: missing"),
    "config not json": (lambda f: (f / "config.json").write_text("{nope"), "config.json: not valid JSON"),
    "config a list": (lambda f: (f / "config.json").write_text("[]"), "JSON object"),
    "unknown top key": (lambda f: edit_config(f, lambda c: c.update(extra=1)), "unknown keys: extra"),
    "unknown family": (lambda f: edit_config(f, lambda c: c.update(family="flow")), "unknown model family"),
    "unknown setting": (
        lambda f: edit_config(f, lambda c: c["model"].update(depth=3)),
        "unknown model settings: depth",
    ),
    "invalid setting": (
        lambda f: edit_config(f, lambda c: c["model"].update(likelihood="poisson")),
        "invalid model settings",
    ),
    "mismatched config": (lambda f: edit_config(f, lambda c: c["model"].update(latent_dim=6)), "has shape"),
    "other family's weights": (
        lambda f: edit_config(f, lambda c: c.update(family="ae", model={"latent_dim": 4, "width": 8})),
        "does not match config.json",
    ),
    "no weights": (lambda f: (f / "model.safetensors").unlink(), "model.safetensors: missing"),
    "zero-byte weights": (lambda f: (f / "model.safetensors").write_bytes(b""), "not a readable safetensors"),
    "truncated weights": (
        lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:-100]),
        "not a readable safetensors",
    ),
    "torch.save pickle": (break_torch_save, "genviz never unpickles"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_folders_raise_one_error_naming_the_file(folder, case):
    breaker, message = BROKEN[case]
    breaker(folder)
    with pytest.raises(CheckpointError, match=message) as info:
        load_model(folder, "cpu")
    assert str(folder) in str(info.value)


def test_pickle_payload_is_refused_and_never_runs(folder):
    marker = break_pickle(folder)
    with pytest.raises(CheckpointError, match="never unpickles"):
        load_model(folder, "cpu")
    assert not marker.exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.update(bad=torch.zeros(1)), "unexpected tensors bad"),
        (
            lambda s: s.update({k: v.to(torch.int32) for k, v in s.items() if v.is_floating_point()}),
            "expected a float type",
        ),
        (lambda s: s[next(k for k, v in s.items() if v.is_floating_point())].fill_(float("nan")), "NaN"),
    ],
)
def test_bad_tensors_are_refused(folder, change, message):
    from safetensors.torch import load_file, save_file

    state = load_file(folder / "model.safetensors")
    change(state)
    save_file(state, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=message):
        load_model(folder, "cpu")
