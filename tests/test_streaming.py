"""Image folders streamed from disk: the same batches as in memory, training on them, bad files,
64x64 and 128x128 models, channels-last and torch.compile switches."""

import json
import math
import time

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from genviz import load_model
from genviz.data import StreamedImageFolder, checked, load_dataset, to_float
from genviz.models import build_model
from genviz.training import TrainConfig, model_config, prepare_model, train_run, training_losses
from genviz.training.train import main

SIZE, PER_CLASS = 64, 40


@pytest.fixture
def shapes_root(tmp_path, monkeypatch):
    """A data root holding `shapes`: 2 classes x 40 RGB 64x64 PNGs of random ellipses and boxes."""
    rng = np.random.default_rng(0)
    for label, cls in enumerate(("ellipse", "box")):
        folder = tmp_path / "data" / "shapes" / "train" / cls
        folder.mkdir(parents=True)
        for i in range(PER_CLASS):
            image = Image.new("RGB", (SIZE, SIZE), tuple(int(v) for v in rng.integers(0, 256, 3)))
            corner = rng.integers(0, SIZE // 2, 2)
            box = [int(v) for v in (*corner, *(corner + rng.integers(8, SIZE // 2, 2)))]
            draw = ImageDraw.Draw(image)
            shape = draw.ellipse if label == 0 else draw.rectangle
            shape(box, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
            image.save(folder / f"{i:02d}.png")
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "data"


def args(tmp_path, *extra: str) -> list[str]:
    settings = "--model vae --dataset shapes --epochs 2 --batch-size 16 --latent-dim 4 --width 4 --device cpu"
    return [*settings.split(), "--out", str(tmp_path / "vae"), "--run-dir", str(tmp_path / "run"), *extra]


def config(tmp_path, **fields) -> TrainConfig:
    """args' run as a TrainConfig; `fields` set any other field."""
    settings = {"model": "vae", "dataset": "shapes", "epochs": 2, "batch_size": 16, "latent_dim": 4, "width": 4}
    return TrainConfig(out=tmp_path / "vae", run_dir=tmp_path / "run", device="cpu", **(settings | fields))


@pytest.mark.parametrize("rank, world_size", [(0, 1), (1, 2)])
def test_streamed_batches_equal_the_in_memory_batches(shapes_root, rank, world_size):
    memory = load_dataset("shapes", "train")
    streamed = load_dataset("shapes", "train", stream=True)
    assert isinstance(streamed, StreamedImageFolder) and streamed.image_shape == memory.image_shape == (3, 64, 64)
    assert streamed.class_names == memory.class_names and torch.equal(streamed.labels, memory.labels)
    g_memory, g_streamed = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    loader = streamed.loader(16, g_streamed, drop_last=True, rank=rank, world_size=world_size, workers=2)
    for _epoch in range(2):  # a new order each epoch, from the shared generator, through persistent workers
        expected = list(memory.batches(16, True, g_memory, drop_last=True, rank=rank, world_size=world_size))
        got = [checked(batch) for batch in loader]
        assert len(got) == len(expected) == len(loader) == 80 // world_size // 16
        for (x, y), (images, labels) in zip(expected, got, strict=True):
            assert torch.equal(to_float(images), x) and torch.equal(labels, y)
    assert torch.equal(g_memory.get_state(), g_streamed.get_state())  # so --resume goes on alike


@pytest.mark.slow
def test_training_on_a_streamed_folder_matches_training_in_memory(shapes_root, tmp_path, capsys):
    start = time.perf_counter()
    run = train_run(config(tmp_path / "s", stream=True, workers=2))
    assert "streaming shapes from disk, decoded in 2 worker processes: --stream" in capsys.readouterr().out
    loaded = load_model(tmp_path / "s" / "vae", device="cpu")
    assert loaded.config.image_shape == (3, 64, 64)
    training = json.loads((tmp_path / "s" / "vae" / "config.json").read_text())["training"]
    assert training["data"] == "streamed from disk" and math.isfinite(training["final_loss"])
    assert time.perf_counter() - start < 60
    # The same seed in memory: the same batches and the same noise, so the same weights, bit for bit.
    in_memory = train_run(config(tmp_path / "m", stream=False))
    for name, value in in_memory.model.state_dict().items():
        assert torch.equal(value, run.model.state_dict()[name]), name


@pytest.mark.slow
def test_resume_of_a_streamed_run_continues_its_order(shapes_root, tmp_path):
    whole = train_run(config(tmp_path / "whole", stream=True, workers=0))
    train_run(config(tmp_path / "cut", stream=True, workers=0, epochs=1))
    resumed = train_run(config(tmp_path / "cut", stream=True, workers=0, resume=True))
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name


@pytest.mark.parametrize("broken", ["box/03.png", "ellipse/07.png"])  # in the preview batch; met in the epoch
@pytest.mark.slow
def test_a_broken_file_in_a_streamed_folder_stops_training_and_is_named(shapes_root, tmp_path, capsys, broken):
    (shapes_root / "shapes" / "train" / broken).write_bytes(b"not a png")
    assert main(args(tmp_path, "--stream", "--workers", "2")) == 2
    err = capsys.readouterr().err
    assert f"{broken}: cannot be read as an image" in err and "Remove or replace the file" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_folder_too_large_for_the_budget_streams_by_itself(shapes_root, tmp_path, monkeypatch, capsys):
    with monkeypatch.context() as patched:
        patched.setattr("genviz.data.stream_budget", lambda: 1000)
        assert isinstance(load_dataset("shapes", "train", stream=None), StreamedImageFolder)
        train_run(config(tmp_path, epochs=1, workers=1))
        assert "over a quarter of this machine's memory" in capsys.readouterr().out
    assert not isinstance(load_dataset("shapes", "train", stream=None), StreamedImageFolder)


def test_stream_options_that_do_nothing_are_refused(shapes_root, tmp_path, capsys):
    assert main(args(tmp_path, "--no-stream", "--workers", "2")) == 2
    assert "--workers decodes streamed images" in capsys.readouterr().err
    assert main([*args(tmp_path, "--stream")[:3], "mnist", *args(tmp_path, "--stream")[4:]]) == 2
    assert "--stream applies to image folders" in capsys.readouterr().err


@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("family", ["ae", "vae", "gan", "classifier"])
def test_64_and_128_pixel_models_build_and_take_a_step(family, size):
    settings = TrainConfig(model=family, dataset="x", out="o", latent_dim=8, width=4)
    name, made = model_config(settings, (3, size, size), num_classes=2)
    torch.manual_seed(0)
    model = prepare_model(build_model(name, made), torch.device("cpu"))
    x = torch.rand(4, 3, size, size)
    if family == "gan":
        loss = model.discriminator_loss(x, torch.randn(4, 8)) + model.generator_loss(torch.randn(4, 8))
        assert model.sample(2, torch.Generator().manual_seed(0)).shape == (2, 3, size, size)
    else:
        loss = model.loss(x, torch.tensor([0, 1, 0, 1]))["loss"] if family == "classifier" else model.loss(x)["loss"]
    loss.backward()
    assert math.isfinite(loss.item())
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    if family in ("ae", "vae"):
        assert model.decode(model.encode(x)).shape == x.shape


def test_channels_last_is_switchable(tmp_path):
    vae = build_model("vae", model_config(config(tmp_path), (3, 64, 64), 2)[1])

    def conv_is_nhwc(model):
        conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 3)
        return conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()

    assert conv_is_nhwc(prepare_model(vae, torch.device("cpu")))  # the CPU default
    assert not conv_is_nhwc(prepare_model(vae.to(memory_format=torch.contiguous_format), torch.device("cpu"), False))


@pytest.mark.slow
def test_compile_trains_a_tiny_model(shapes_root, tmp_path):
    """torch.compile of the loss on the CPU (inductor, C++): two steps of an AE (no random draws,
    which compiled code makes differently), its loss that of eager code up to float rounding."""
    extra = {"model": "ae", "epochs": 1, "limit": 32, "image_size": 16, "stream": False}
    compiled = train_run(config(tmp_path / "c", compile=True, **extra))
    eager = train_run(config(tmp_path / "e", **extra))
    cards = [json.loads((tmp_path / r / "vae" / "config.json").read_text())["training"] for r in ("c", "e")]
    assert cards[0]["compiled"] is True and "compiled" not in cards[1]
    assert cards[0]["final_loss"] == pytest.approx(cards[1]["final_loss"], rel=1e-3)
    x = load_dataset("shapes", "train", image_size=16).float_images(slice(0, 16))
    model = compiled.model.train()
    assert training_losses(model, torch.device("cpu"), compile=True)["model"](x, None).item() == pytest.approx(
        model.loss(x)["loss"].item(), rel=1e-4
    )
    assert eager.model.config == compiled.model.config


def test_compile_is_refused_without_a_cpp_compiler(shapes_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    assert main(args(tmp_path, "--compile")) == 2
    assert "--compile on the CPU needs a C++ compiler" in capsys.readouterr().err
