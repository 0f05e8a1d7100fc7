"""Checkpoint folders: exact round trips, and one clear error type for every broken folder."""

import json
import os

import pytest
import torch

from genviz import CheckpointError, load_model, save_checkpoint
from genviz.checkpoint import dataset_info
from genviz.folders import find_checkpoints
from genviz.models import trained_families
from support.checkpoints import BROKEN, break_pickle, edit_config, tiny


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "mnist-vae"
    save_checkpoint(tiny(), path, dataset_info("mnist", [str(i) for i in range(10)]))
    return path


@pytest.mark.parametrize("family", trained_families())
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
        z = torch.randn(5, model.latent_dim)  # a conditional VAE appends its classes to z
        assert torch.equal(loaded.decode(z), model.decode(z))
    assert loaded.checkpoint.dataset.class_names == ["a", "b"]


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
    assert card.startswith("# mnist-vae\n")  # the folder's name: two VAEs of a dataset differ in their cards
    save_checkpoint(tiny(), folder.parent / "mnist-beta-vae", dataset_info("mnist", []))
    assert (folder.parent / "mnist-beta-vae" / "README.md").read_text().startswith("# mnist-beta-vae\n")
    assert "variational autoencoder" in card and "genviz evaluate" in card
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*"))
    assert all(f.stat().st_mode & 0o777 == 0o644 for f in folder.iterdir())


def test_find_checkpoints_lists_only_checkpoint_folders(folder):
    (folder.parent / "not-a-checkpoint").mkdir()
    assert find_checkpoints(folder.parent) == [folder]


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


def set_model(**settings):
    return lambda c: c["model"].update(settings)


# A config is read from a file anyone may have written: every setting has a type, a range and a
# size, and each breach is a CheckpointError naming the folder, never a TypeError from torch.
HOSTILE = {
    "huge latent_dim": (set_model(latent_dim=10**9), "larger than genviz opens"),
    "huge width": (set_model(width=10**6), "larger than genviz opens"),
    "width past int64 sizes": (set_model(width=10**18), "cannot build"),
    "width past int64": (set_model(width=2**70), "cannot build"),
    "latent_dim a string": (set_model(latent_dim="16"), "latent_dim must be an integer, got '16'"),
    "latent_dim a float": (set_model(latent_dim=16.0), "latent_dim must be an integer"),
    "latent_dim a bool": (set_model(latent_dim=True), "latent_dim must be an integer, got True"),
    "latent_dim a list": (set_model(latent_dim=[16]), "latent_dim must be an integer"),
    "latent_dim an object": (set_model(latent_dim={"n": 16}), "latent_dim must be an integer"),
    "latent_dim null": (set_model(latent_dim=None), "latent_dim must be an integer"),
    "negative width": (set_model(width=-8), "must be positive"),
    "zero latent_dim": (set_model(latent_dim=0), "must be positive"),
    "image_shape too short": (set_model(image_shape=[1, 28]), "image_shape must be a list of 3"),
    "image_shape too long": (set_model(image_shape=[1, 28, 28, 28]), "image_shape must be a list of 3"),
    "image_shape a string": (set_model(image_shape="1x28x28"), "image_shape must be a list of 3"),
    "image_shape of floats": (set_model(image_shape=[1, 28.0, 28]), r"image_shape\[1\] must be an integer"),
    "image_shape of bools": (set_model(image_shape=[True, 28, 28]), r"image_shape\[0\] must be an integer"),
    "image_shape huge": (set_model(image_shape=[1, 10**9, 10**9]), "8 to 256 pixels"),
    "beta NaN": (set_model(beta=float("nan")), "beta must be finite"),
    "beta a string": (set_model(beta="1"), "beta must be a number"),
    "beta negative": (set_model(beta=-1.0), "must be positive"),
    "likelihood a number": (set_model(likelihood=3), "likelihood must be a string"),
    "model a list": (lambda c: c.update(model=[4, 8]), "'model' must be a JSON object"),
    "dataset name a number": (lambda c: c["dataset"].update(name=5), "'dataset' needs a name"),
    "class_names a string": (lambda c: c["dataset"].update(class_names="0123"), "class_names"),
    "class_names numbers": (lambda c: c["dataset"].update(class_names=[0, 1]), "class_names"),
    "training a list": (lambda c: c.update(training=[]), "'training' a JSON object"),
    "GAN inversion without end": (
        lambda c: c.update(family="gan", model={"latent_dim": 4, "width": 8, "inversion_steps": 10**12}),
        "inversion_steps must be 1 to 5000",
    ),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_configs_are_refused_naming_the_folder(folder, case):
    change, message = HOSTILE[case]
    edit_config(folder, change)
    with pytest.raises(CheckpointError, match=message) as info:
        load_model(folder, "cpu")
    assert str(folder / "config.json") in str(info.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"genviz_version": ' + "9" * 5000 + "}", "not valid JSON"),  # past Python's int digits limit
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),  # deeper than the JSON parser recurses
    ],
)
def test_configs_the_json_parser_chokes_on_are_refused(folder, text, message):
    (folder / "config.json").write_text(text)
    with pytest.raises(CheckpointError, match=message):
        load_model(folder, "cpu")


def test_settings_left_out_take_their_defaults_and_numbers_may_be_integers(folder):
    def change(config):
        del config["model"]["gaussian_sigma"]
        config["model"]["beta"] = 1

    edit_config(folder, change)
    model = load_model(folder, "cpu")
    assert model.config.gaussian_sigma == 0.1 and model.config.beta == 1.0


def peak_rss_bytes() -> int:
    status = open("/proc/self/status").read()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) * 1024


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux's /proc/self/clear_refs")
def test_a_config_asking_for_a_huge_model_allocates_nothing(folder):
    """latent_dim 100,000 makes a 154M-number VAE (615 MB in float32): refused on the meta device,
    before one byte of it is allocated. A real build would raise the peak memory by its size."""
    edit_config(folder, set_model(latent_dim=100_000))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident set size to the current one
    before = peak_rss_bytes()
    with pytest.raises(CheckpointError, match="153,814,510 parameters, larger than genviz opens"):
        load_model(folder, "cpu")
    assert peak_rss_bytes() - before < 50 << 20


def test_a_model_over_the_parameter_limit_is_refused_even_with_matching_weights(folder, monkeypatch):
    import genviz.checkpoint

    size = sum(t.numel() for t in tiny().state_dict().values())
    monkeypatch.setattr(genviz.checkpoint, "MAX_PARAMETERS", size - 1)
    with pytest.raises(CheckpointError, match=f"{size:,} parameters, larger than genviz opens"):
        load_model(folder, "cpu")
    monkeypatch.setattr(genviz.checkpoint, "MAX_PARAMETERS", size)
    load_model(folder, "cpu")


def test_a_failed_save_leaves_the_folder_as_it_was(folder, monkeypatch):
    """save_checkpoint renames its four files into place only once all are written: a disk that
    fills up while it writes (here the model card, the last) changes none of them."""
    import genviz.checkpoint

    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def full_disk(config, metrics, name):
        raise OSError(28, "No space left on device")

    model = tiny()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1)
    monkeypatch.setattr(genviz.checkpoint, "model_card", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(model, folder, dataset_info("other", []), {"epochs": 2})
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
