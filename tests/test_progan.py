"""ProGAN (Karras et al. 2018): the fade-in, the equalised learning rate, pixel norm and the minibatch stddev against
hand computations; the schedule and a resume in the middle of a fade-in; a tiny model grown 4 -> 8 -> 16 on real
MNIST, on two processes, and opened on every page; its growth record on the model card and the Sample page."""

import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from streamlit.testing.v1 import AppTest

from genviz import load_model, ui
from genviz.export import decoder_onnx
from genviz.models import ProGAN, ProGANConfig
from genviz.models.progan import GROWTH_SAMPLES, Scaled, minibatch_stddev, pixel_norm, schedule
from genviz.pictures import grid, growth_row
from genviz.training import train_model, train_run
from genviz.training.evaluate import evaluate, quality_bars
from support.apptest import images, open_page
from support.runs import tiny_config

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("home", "map", "sample", "sliders", "interpolate", "reconstruct", "anomaly")


def tiny(**settings) -> ProGAN:
    torch.manual_seed(0)
    return ProGAN(ProGANConfig(image_shape=(1, 28, 28), latent_dim=8, width=4, **settings)).eval()


def halve(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


def double(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def test_28x28_images_grow_on_a_32x32_canvas_from_4x4():
    config = ProGANConfig(image_shape=(1, 28, 28), width=4)
    assert config.canvas == 32 and config.resolutions == [4, 8, 16, 32]
    assert [config.channels(r) for r in config.resolutions] == [32, 16, 8, 4]  # width at 32x32, doubling, 8x cap
    assert ProGANConfig(image_shape=(3, 64, 64)).resolutions == [4, 8, 16, 32, 64]


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_the_generators_fade_in_is_the_old_path_at_alpha_0_and_the_new_at_1(stage):
    model, z = tiny(), torch.randn(6, 8)
    with torch.no_grad():
        old = double(model.generator(z, stage - 1, 1.0))  # the previous stage's images, upsampled
        h = model.generator.first(model.generator.dense(pixel_norm(z)))
        for s in range(1, stage + 1):
            h = model.generator.blocks[s](double(h))
        new = model.generator.to_rgb[stage](h)  # the new block's images, by hand
        assert torch.equal(model.generator(z, stage, 0.0), old)
        assert torch.equal(model.generator(z, stage, 1.0), new)
        assert torch.allclose(model.generator(z, stage, 0.25), 0.75 * old + 0.25 * new, atol=1e-6)
        assert not torch.allclose(old, new)


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_the_critics_fade_in_is_the_old_path_at_alpha_0_and_the_new_at_1(stage):
    model = tiny()
    r = model.config.resolutions[stage]
    x = torch.randn(8, 1, r, r)
    with torch.no_grad():
        old = model.discriminator(halve(x), stage - 1, 1.0)  # the previous stage's critic of the images halved
        assert torch.equal(model.discriminator(x, stage, 0.0), old)
        h = model.discriminator.blocks[stage](model.discriminator.from_rgb[stage](x))
        for s in range(stage - 1, 0, -1):
            h = model.discriminator.blocks[s](h)
        new = model.discriminator.last(minibatch_stddev(h, 4))
        assert torch.equal(model.discriminator(x, stage, 1.0), new)
        assert not torch.allclose(old, new)


def test_real_images_reach_the_critic_on_the_canvas_at_the_stages_resolution_and_fade_alike():
    model = tiny(stage_images=100)
    x = torch.rand(4, 1, 28, 28)
    canvas = F.pad(x, (2, 2, 2, 2)) * 2 - 1  # black (-1) around
    model.images_seen.fill_(350)  # phase 3: fading 16x16 in, halfway
    model.follow_schedule()
    assert (model.stage, model.alpha) == (2, 0.5)
    at16 = F.avg_pool2d(canvas, 2)
    assert torch.allclose(model.to_critic(x), 0.5 * double(halve(at16)) + 0.5 * at16, atol=1e-6)
    model.images_seen.fill_(400)  # stabilising 16x16
    model.follow_schedule()
    assert torch.allclose(model.to_critic(x), at16, atol=1e-6)
    # decode: the stage's images upsampled to the canvas, cropped to 28x28, from [-1, 1] to [0, 1]
    z = torch.randn(3, 8)
    y = F.interpolate(model.generate(z), size=32, mode="nearest")[..., 2:30, 2:30]
    assert torch.allclose(model.decode(z), ((y + 1) / 2).clamp(0, 1))


def test_the_schedule_counts_images_through_fades_and_stabilisations():
    stages = 4  # 4, 8, 16, 32
    assert schedule(0, 100, stages) == (0, 0, 1.0)
    assert schedule(99, 100, stages) == (0, 0, 1.0)
    assert schedule(100, 100, stages) == (1, 1, 0.0)  # 8x8 fades in from alpha 0
    assert schedule(125, 100, stages) == (1, 1, 0.25)
    assert schedule(200, 100, stages) == (2, 1, 1.0)  # and is stabilised
    assert schedule(550, 100, stages) == (5, 3, 0.5)
    assert schedule(10_000, 100, stages) == (6, 3, 1.0)  # the full size trains on


def test_equalised_learning_rate_scales_standard_normal_weights_at_run_time():
    torch.manual_seed(0)
    x = torch.randn(2, 64, 5, 5)
    he = math.sqrt(2) / math.sqrt(64 * 9)
    equalised, plain = Scaled(64, 32, 3, math.sqrt(2), True), Scaled(64, 32, 3, math.sqrt(2), False)
    assert equalised.scale == pytest.approx(he) and plain.scale == 1.0
    assert equalised.weight.std().item() == pytest.approx(1.0, rel=0.05)  # N(0, 1) stored
    assert plain.weight.std().item() == pytest.approx(he, rel=0.05)  # He's initialisation stored
    expected = F.conv2d(x, equalised.weight * he, equalised.bias, padding=1)
    assert torch.allclose(equalised(x), expected, atol=1e-6)
    # Give both the same effective weights: one Adam step (about lr per weight) then moves the equalised layer's
    # effective weights by lr * he and the plain layer's by lr: the steps scale with each layer's constant.
    with torch.no_grad():
        plain.weight.copy_(equalised.weight * he)
    assert torch.allclose(equalised(x), plain(x), atol=1e-5)
    moved = []
    for layer in (equalised, plain):
        before = (layer.weight * layer.scale).detach().clone()
        optimizer = torch.optim.Adam([layer.weight], lr=1e-3)
        layer(x).pow(2).mean().backward()
        optimizer.step()
        moved.append(((layer.weight * layer.scale).detach() - before).abs().median().item())
    assert moved[0] == pytest.approx(1e-3 * he, rel=0.02) and moved[1] == pytest.approx(1e-3, rel=0.02)
    linear = Scaled(10, 3, 0, 1.0, True)
    v = torch.randn(4, 10)
    assert torch.allclose(linear(v), v @ (linear.weight / math.sqrt(10)).T + linear.bias, atol=1e-6)


def test_pixel_norm_divides_each_pixels_features_by_their_root_mean_square():
    x = torch.tensor([[[[3.0, 0.0]], [[4.0, 2.0]]]])  # (1, 2, 1, 2): pixel (0, 0) has features 3, 4; (0, 1) 0, 2
    expected = torch.tensor([[[[3 / math.sqrt(12.5), 0.0]], [[4 / math.sqrt(12.5), 2 / math.sqrt(2)]]]])
    assert torch.allclose(pixel_norm(x), expected, atol=1e-6)


def test_the_minibatch_stddev_appends_each_groups_mean_feature_spread():
    # 4 images of 2 features at 1x2 pixels; one group of 4: at each feature and pixel the population std of
    # the 4 values, averaged over features and pixels.
    x = torch.tensor(
        [
            [[[1.0, 0.0]], [[2.0, 2.0]]],
            [[[3.0, 0.0]], [[2.0, 2.0]]],
            [[[5.0, 0.0]], [[2.0, 2.0]]],
            [[[7.0, 4.0]], [[2.0, 2.0]]],
        ]
    )
    stds = [math.sqrt(5.0), math.sqrt(3.0), 0.0, 0.0]  # (1, 3, 5, 7); (0, 0, 0, 4); constant; constant
    out = minibatch_stddev(x, group=4, eps=0.0)
    assert out.shape == (4, 3, 1, 2) and torch.equal(out[:, :2], x)
    assert torch.allclose(out[:, 2], torch.full((4, 1, 2), sum(stds) / 4))
    # Groups of 2, as the paper's code makes them: images 0 and 2 (stds 2 and 0), images 1 and 3 (2 and 2).
    out = minibatch_stddev(x, group=2, eps=0.0)
    assert torch.allclose(out[:, 2, 0, 0], torch.tensor([0.5, 1.0, 0.5, 1.0]))  # (2 + 0) / 4, (2 + 2) / 4
    assert minibatch_stddev(x[:3], group=4).shape == (3, 3, 1, 2)  # 3 images: one group of 3


def test_each_trick_switches_off():
    model = tiny(equalized_lr=False, pixel_norm=False, minibatch_stddev=False)
    layers = [m for m in model.modules() if isinstance(m, Scaled)]
    assert layers and all(m.scale == 1.0 for m in layers)
    assert not any(type(m).__name__ == "PixelNorm" for m in model.modules())
    assert model.discriminator.last[0][0].weight.shape[1] == model.config.channels(4)  # no stddev channel
    assert tiny().discriminator.last[0][0].weight.shape[1] == model.config.channels(4) + 1
    with pytest.raises(ValueError, match="stage_images"):
        ProGANConfig(stage_images=0)


@pytest.mark.parametrize("pixel_norm", [True, False])
def test_a_generator_that_normalises_z_ignores_its_length_and_says_so(pixel_norm):
    """Pixel norm of z makes a temperature (a scale on every latent) a no-op; the Sample page reads the property."""
    model, z = tiny(pixel_norm=pixel_norm), torch.randn(6, 8, generator=torch.Generator().manual_seed(0))
    model.images_seen.fill_(10_000)  # to the full size
    model.follow_schedule()
    with torch.no_grad():
        same = torch.allclose(model.decode(z), model.decode(2.5 * z), atol=1e-6)
    assert model.ignores_latent_length is pixel_norm and same is pixel_norm


def test_the_drift_term_adds_its_weight_times_the_mean_squared_real_score():
    torch.manual_seed(0)
    model, x, z = tiny(gradient_penalty=0.0), torch.rand(8, 1, 28, 28), torch.randn(8, 8)
    with torch.no_grad():
        real = model.critic(model.to_critic(x))
        estimate = real.mean() - model.critic(model.generate(z)).mean()
        assert torch.allclose(model.discriminator_loss(x, z), -estimate + 0.001 * real.pow(2).mean())


def test_a_phase_that_ends_leaves_its_images_in_the_growth_record():
    model = tiny(stage_images=100)
    model.images_seen.fill_(299)  # the end of phase 2 (8x8 stabilised)
    model.follow_schedule()
    with torch.no_grad():
        expected = ((model.generator(model.growth_noise, 1, 1.0) + 1) * 127.5).round().clamp(0, 255).byte()
    model.record(2)
    assert torch.equal(model.growth_2, expected) and model.growth_2.shape == (GROWTH_SAMPLES, 1, 8, 8)


@pytest.mark.slow
def test_a_run_resumed_in_the_middle_of_a_fade_in_continues_with_the_same_alpha(tmp_path):
    """One epoch of 1,024 images ends halfway through 8x8's fade-in; the resumed second epoch ends where an
    unbroken two-epoch run does, weights, schedule and growth record alike."""
    settings = {"limit": 1024, "batch_size": 32, "width": 4, "settings": {"stage_images": 683}}
    first = train_run(tiny_config(tmp_path / "out", tmp_path / "run", "progan", 1, **settings))
    assert (first.model.stage, first.model.alpha) == (1, pytest.approx((1024 - 683) / 683))
    loaded = load_model(tmp_path / "out", "cpu")
    assert (loaded.stage, loaded.alpha) == (first.model.stage, first.model.alpha)  # the checkpoint keeps them
    resumed = train_run(tiny_config(tmp_path / "out", tmp_path / "run", "progan", 2, resume=True, **settings))
    unbroken = train_run(tiny_config(tmp_path / "b", tmp_path / "b-run", "progan", 2, **settings))
    assert int(resumed.model.images_seen) == int(unbroken.model.images_seen) == 2048
    assert (resumed.model.phase, resumed.model.stage) == (unbroken.model.phase, unbroken.model.stage) == (2, 1)
    state, expected = resumed.model.state_dict(), unbroken.model.state_dict()
    for key, value in expected.items():
        assert torch.equal(state[key], value), key


@pytest.fixture(scope="module")
def grown(trained, tmp_path_factory):
    """A tiny ProGAN grown 4 -> 8 -> 16 on 4,096 MNIST images (two epochs of 2,048: 1,024 images per phase, so
    it ends as 16x16 starts its stabilisation), beside the session's classifier. Its encoder, a search, takes 20
    steps (the default 200 made the Anomaly page, which inverts test images, a minute of the test run)."""
    root = tmp_path_factory.mktemp("progan")
    settings = {"stage_images": 1024, "inversion_steps": 20}
    train_model(tiny_config(root / "mnist-progan", root / "run", "progan", 2, lr=1e-3, settings=settings))
    shutil.copytree(trained["classifier"].out, root / "mnist-classifier")
    return root


@pytest.mark.slow
def test_the_grown_model_saves_loads_and_evaluates(grown):
    model = load_model(grown / "mnist-progan", "cpu")
    assert isinstance(model, ProGAN) and int(model.images_seen) == 4096
    assert (model.stage, model.alpha, model.resolution) == (2, 1.0, 16)
    assert [what for what, _ in model.growth()] == [
        "4x4 trained", "8x8 faded in", "8x8 stabilised", "16x16 faded in", "16x16 now"
    ]  # fmt: skip
    assert [shown.shape[-1] for _, shown in model.growth()] == [4, 8, 8, 16, 16]
    assert all(shown.std() > 0 for _, shown in model.growth())  # recorded, not the zeros they start as
    assert model.decode(torch.randn(3, 8)).shape == (3, 1, 28, 28)
    metrics = evaluate(grown / "mnist-progan", limit=500, samples=500, probe_images=1000, compression_images=100)
    assert metrics["sample_fid_classifier"] > 0 and len(metrics["sample_class_shares"]) == 10
    assert "progressively grown GAN" in (grown / "mnist-progan" / "README.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_on_the_grown_model(grown, page, monkeypatch):
    monkeypatch.setattr(ui, "CHECKPOINTS", [grown])
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(grown / "cache"))
    app = open_page(AppTest.from_file("../genviz/app.py", default_timeout=300), f"views/{page}.py", "mnist-progan")
    if page == "reconstruct":  # it waits for uploads until told to take test images
        app.radio(key="recon_source").set_value("Test images").run()
    assert not app.exception and not app.error, (app.exception, app.error)
    assert images(app.main) or app.get("plotly_chart"), f"{page} shows nothing"


@pytest.mark.slow
def test_two_processes_grow_alike_and_count_the_images_of_both(tmp_path):
    """Under torchrun (two CPU processes), the stages not reached have no gradients (DDP looks for them) and the
    schedule counts both processes' images: 2 x 1,024 in the epoch, 512 per phase, so 16x16 then starts its
    stabilisation."""
    command = "--model progan --dataset mnist --epochs 1 --limit 2048 --batch-size 32 --latent-dim 8 --width 4"
    command += f" --stage-images 512 --device cpu --no-bundle --threads 1 --out {tmp_path / 'out'}"
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    proc = subprocess.run(
        [*launcher, "-m", "genviz.training.train", *command.split(), "--run-dir", str(tmp_path / "run")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    model = load_model(tmp_path / "out", "cpu")
    assert int(model.images_seen) == 2048 and (model.phase, model.stage) == (4, 2)
    training = json.loads((tmp_path / "out" / "config.json").read_text())["training"]
    assert training["processes"] == 2 and training["global_batch_size"] == 64


@pytest.mark.slow
def test_the_sample_pages_stage_control_shows_the_growth_record(grown, trained, media, tmp_path, monkeypatch):
    """Its stages are the record's, the latest first; a stage picked shows the record's images at it, enlarged with
    crisp pixels; a model that did not grow has no such control."""
    shutil.copytree(grown / "mnist-progan", tmp_path / "mnist-progan")
    shutil.copytree(trained["gan"].out, tmp_path / "mnist-gan")
    monkeypatch.setattr(ui, "CHECKPOINTS", [tmp_path])
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    app = open_page(AppTest.from_file("../genviz/app.py", default_timeout=300), "views/sample.py", "mnist-progan")
    assert app.radio(key="sample_control").options == ["Truncation"]  # its generator normalises z's length
    assert any("No temperature" in c.value for c in app.caption)
    stage = app.select_slider(key="sample_stage")
    assert stage.options == ["4x4 trained", "8x8 faded in", "8x8 stabilised", "16x16 faded in", "16x16 now"]
    assert stage.value == 4
    stage.set_value(0).run()
    assert not app.exception and app.query_params["stage"] == "0"
    (shown,) = [i for i in images(app.main) if "as drawn at stage 4x4 trained" in i.captions[0]]
    record = load_model(tmp_path / "mnist-progan", "cpu").growth()[0][1]  # (8, 1, 4, 4)
    expected = np.asarray(grid(F.interpolate(record, scale_factor=16, mode="nearest"), nrow=8).convert("L"), np.int16)
    picture = np.asarray(Image.open(io.BytesIO(media(shown.value[0]))).convert("L"), dtype=np.int16)
    assert picture.shape == (2 + 66, 2 + 8 * 66) and np.abs(picture - expected).max() <= 1
    assert len(np.unique(picture[2:66, 2:66])) <= 16  # one 4x4 image: 16 blocks of 16x16 pixels
    app.sidebar.selectbox[0].set_value(str(tmp_path / "mnist-gan")).run()
    assert not app.exception and all(s.key != "sample_stage" for s in app.select_slider)
    assert "stage" not in app.query_params
    assert app.radio(key="sample_control").options == ["Temperature", "Truncation"]


@pytest.mark.slow
def test_the_model_card_shows_the_growth_as_a_row(grown, media, monkeypatch):
    monkeypatch.setattr(ui, "CHECKPOINTS", [grown])
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(grown / "cache"))
    app = open_page(AppTest.from_file("../genviz/app.py", default_timeout=300), "views/home.py", "mnist-progan")
    assert not app.exception and [s.label for s in app.slider] == []  # no temperature: it would change nothing
    captions = [c.value for c in app.sidebar.caption]
    stages = "4x4 trained; 8x8 faded in; 8x8 stabilised; 16x16 faded in; 16x16 now"
    assert f"Growth, the same 8 latents at each stage: {stages}." in captions
    curve, shown = images(app.sidebar)  # the Wasserstein estimate by epoch, and the growth row
    record = load_model(grown / "mnist-progan", "cpu").growth()
    # five grids of 2 x 4 images enlarged to 16x16, 6 pixels apart: 5 * (2 + 2 * 18) + 4 * 6 wide
    assert growth_row(record).size == (5 * 38 + 4 * 6, 2 + 4 * 18)
    # In the narrow sidebar, grids one image wide: a latent's images line up across the row.
    picture = np.asarray(Image.open(io.BytesIO(media(shown.value[0]))).convert("L"), dtype=np.int16)
    assert picture.shape == (2 + 8 * 18, 5 * 20 + 4 * 6)
    assert np.abs(picture - np.asarray(growth_row(record, 1).convert("L"), dtype=np.int16)).max() <= 1


def test_the_browsers_decoder_is_the_model_at_its_stage_and_alpha():
    """The ONNX decoder (genviz.export) traces the stage and alpha of the moment as constants: mid-fade, it decodes
    as the model does."""
    model = tiny(stage_images=100)
    model.images_seen.fill_(150)  # 8x8 fading in, alpha 0.5
    model.follow_schedule()
    session = onnxruntime.InferenceSession(decoder_onnx(model), providers=["CPUExecutionProvider"])
    z = torch.randn(5, 8)
    (decoded,) = session.run(None, {session.get_inputs()[0].name: z.numpy()})
    assert torch.allclose(torch.from_numpy(decoded), model.decode(z), atol=1e-5)


def test_the_quality_bars_hold_mnist_progan_to_1_2_times_the_wgan_gps_fid(tmp_path):
    for name, metrics in {
        "mnist-wgan-gp": {"sample_fid_classifier": 40.0, "sample_min_class_share": 0.06},
        "mnist-progan": {"sample_fid_classifier": 48.5, "sample_min_class_share": 0.04},
    }.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(metrics))
    bars = {bar: (measured, met) for bar, measured, met in quality_bars(tmp_path)}
    assert bars["mnist-progan FID <= 1.2 x mnist-wgan-gp's"] == ("48.50 vs 48.00", False)
    assert bars["mnist-progan samples: every digit >= 5%"] == ("4.0%", False)
    (tmp_path / "mnist-progan" / "metrics.json").write_text(json.dumps({"sample_fid_classifier": 47.9}))
    bars = {bar: met for bar, _, met in quality_bars(tmp_path)}
    assert bars["mnist-progan FID <= 1.2 x mnist-wgan-gp's"] is True
    assert "mnist-progan samples: every digit >= 5%" not in bars  # no class shares measured: no bar


def test_the_quality_bar_holds_cifar10_progan_below_the_cifar10_vaes_fid(tmp_path):
    for name, fid in {"cifar10-vae": 180.0, "cifar10-progan": 180.0}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({"sample_fid_classifier": fid}))
    bars = {bar: (measured, met) for bar, measured, met in quality_bars(tmp_path)}
    assert bars["cifar10-progan FID < cifar10-vae's"] == ("180.00 vs 180.00", False)  # a tie does not beat it
    (tmp_path / "cifar10-progan" / "metrics.json").write_text(json.dumps({"sample_fid_classifier": 179.9}))
    assert ("cifar10-progan FID < cifar10-vae's", "179.90 vs 180.00", True) in quality_bars(tmp_path)
