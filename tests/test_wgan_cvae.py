"""WGAN-GP and the conditional VAE: the critic's penalty and step schedule on known inputs, the CVAE's classes in
its latent, its prior and its loss; each trains for an epoch on real MNIST, loads, evaluates and opens on every
page."""

import io
import json
import re
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from streamlit.testing.v1 import AppTest
from torch import nn

from genviz import load_model, ui
from genviz.models import CVAE, GAN, WGANGP, CVAEConfig, GANConfig, WGANConfig
from genviz.pictures import grid
from genviz.training import train_model
from genviz.training.evaluate import evaluate, quality_bars
from genviz.ui.picker import curve_svg
from support.apptest import images, open_page
from support.runs import tiny_config

PAGES = ("home", "map", "sample", "sliders", "interpolate", "reconstruct", "anomaly")


def linear_critic(model: WGANGP, weight: torch.Tensor) -> None:
    """Make the critic w . x + 0.5: its gradient is w at every image."""
    model.discriminator = nn.Sequential(nn.Flatten(), nn.Linear(weight.numel(), 1))
    with torch.no_grad():
        model.discriminator[1].weight.copy_(weight.reshape(1, -1))
        model.discriminator[1].bias.fill_(0.5)


def test_the_gradient_penalty_and_the_critic_loss_match_their_hand_computed_values():
    torch.manual_seed(0)
    model = WGANGP(WGANConfig(width=4, gradient_penalty=10.0))
    weight = torch.full((1, 28, 28), 0.1)  # |w| = 0.1 * 28 = 2.8
    linear_critic(model, weight)
    real, z = torch.rand(4, 1, 28, 28), torch.randn(4, 16)
    assert model.gradient_penalty(real, torch.rand(4, 1, 28, 28)).item() == pytest.approx((2.8 - 1) ** 2, rel=1e-5)
    fake = model.decode(z)
    estimate = (real * weight).flatten(1).sum(1).mean() - (fake * weight).flatten(1).sum(1).mean()
    loss = model.discriminator_loss(real, z)
    assert loss.item() == pytest.approx((-estimate + 10 * 1.8**2).item(), rel=1e-5)
    assert model.last_estimate.item() == pytest.approx(estimate.item(), rel=1e-5)
    assert model.generator_loss(z).item() == pytest.approx(-((fake * weight).flatten(1).sum(1).mean() + 0.5).item())


def test_the_critic_has_no_batch_norm_and_its_own_adam():
    model = WGANGP(WGANConfig(width=4))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.discriminator.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in GAN(GANConfig(width=4)).discriminator.modules())
    optimizers = model.make_optimizers(WGANGP.default_lr)
    assert {o.param_groups[0]["betas"] for o in optimizers.values()} == {(0.0, 0.9)}
    assert WGANGP.default_lr == 1e-4
    with pytest.raises(ValueError, match="critic_steps"):
        WGANConfig(critic_steps=0)
    with pytest.raises(ValueError, match="objective"):
        WGANConfig(objective="hinge")


def test_the_generator_steps_once_per_critic_steps_batches():
    torch.manual_seed(0)
    model = WGANGP(WGANConfig(width=4, critic_steps=3))
    optimizers = model.make_optimizers(1e-3)
    losses = {name: loss for name, (loss, _) in model.objectives().items()}
    x = torch.rand(8, 1, 28, 28)

    def generator_now():
        return [p.detach().clone() for p in model.generator.parameters()]

    before, critic = generator_now(), [p.detach().clone() for p in model.discriminator.parameters()]
    changed = []
    for _ in range(6):
        estimate = model.train_step(losses, optimizers, x, None, torch.autocast("cpu", enabled=False))
        now = generator_now()
        changed.append(any(not torch.equal(a, b) for a, b in zip(before, now, strict=True)))
        before = now
    assert changed == [False, False, True, False, False, True]
    assert not torch.equal(critic[0], model.discriminator[0].weight) and estimate.shape == ()


def test_the_cvae_latent_is_z_then_the_class_and_its_prior_draws_the_classes_asked():
    torch.manual_seed(0)
    model = CVAE(CVAEConfig(width=4, latent_dim=3, num_classes=4)).eval()
    assert model.latent_dim == 7
    x, labels = torch.rand(5, 1, 28, 28), torch.tensor([0, 1, 2, 3, 1])
    z = model.encode(x, labels)
    assert torch.equal(z[:, 3:], F.one_hot(labels, 4).float())
    named = model.class_logits(x).argmax(1)
    assert torch.equal(model.encode(x)[:, 3:].argmax(1), named)  # without labels, the encoder's own classes
    with torch.no_grad():  # a learned prior per class, p(z | c) = N(mu_c, sigma_c^2)
        model.prior_mean.copy_(torch.randn(4, 3))
        model.prior_logvar.copy_(torch.randn(4, 3) * 0.3)
    drawn = model.prior(5, torch.Generator().manual_seed(1), labels=labels)
    assert torch.equal(drawn[:, 3:], F.one_hot(labels, 4).float())
    eps = torch.randn(5, 7, generator=torch.Generator().manual_seed(1))
    sigma = (0.5 * model.prior_logvar[labels]).exp()
    assert torch.allclose(drawn[:, :3], model.prior_mean[labels] + eps[:, :3] * sigma)
    centre, spread = model.latent_scale(2)  # what the browser computes the latents from
    assert torch.allclose(model.prior_from_noise(eps, 0.5, labels=torch.full((5,), 2)), centre + eps * 0.5 * spread)
    assert model.sample(5, torch.Generator().manual_seed(1), labels=labels).shape == (5, 1, 28, 28)
    random = model.prior(400, torch.Generator().manual_seed(2))[:, 3:]
    assert (random.sum(1) == 1).all() and set(random.argmax(1).tolist()) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="draws no chosen class"):
        GAN(GANConfig(width=4)).prior(2, labels=torch.zeros(2, dtype=torch.long))


def test_the_cvae_loss_is_the_conditional_elbo_plus_the_class_cross_entropy():
    torch.manual_seed(0)
    model = CVAE(CVAEConfig(width=4, latent_dim=3, num_classes=4, label_weight=2.0))
    x, labels = torch.rand(3, 1, 28, 28).round(), torch.tensor([0, 3, 1])
    torch.manual_seed(5)
    losses = model.loss(x, labels)
    torch.manual_seed(5)
    mu, logvar = model.encode_dist(x, labels)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    logits = model.decoder(torch.cat([z, F.one_hot(labels, 4).float()], 1))
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 3
    kl = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)).sum() / 3
    ce = F.cross_entropy(model.class_logits(x), labels)
    assert losses["recon"].item() == pytest.approx(recon.item(), rel=1e-5)
    assert losses["kl"].item() == pytest.approx(kl.item(), rel=1e-5)
    assert losses["loss"].item() == pytest.approx((recon + kl + 2 * ce).item(), rel=1e-5)
    with pytest.raises(ValueError, match="labelled"):
        model.loss(x)


def test_the_cvae_kl_to_its_class_prior_is_that_of_torch_distributions():
    torch.manual_seed(0)
    model = CVAE(CVAEConfig(width=4, latent_dim=3, num_classes=4))
    with torch.no_grad():
        model.prior_mean.copy_(torch.randn(4, 3))
        model.prior_logvar.copy_(torch.randn(4, 3))
    mu, logvar, labels = torch.randn(6, 3), torch.randn(6, 3), torch.tensor([0, 1, 2, 3, 3, 1])
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(model.prior_mean[labels], (0.5 * model.prior_logvar[labels]).exp())
    expected = torch.distributions.kl_divergence(q, p)  # (B, D): each dimension's
    assert torch.allclose(model.kl_dims(mu, logvar, labels), expected, atol=1e-5)
    standard = CVAE(CVAEConfig(width=4, latent_dim=3, num_classes=4, prior="standard"))
    assert not hasattr(standard, "prior_mean")
    assert torch.allclose(
        standard.kl_dims(mu, logvar, labels),
        torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)),
        atol=1e-5,
    )


def test_quality_bars_read_the_new_models_metrics(tmp_path):
    for name, metrics in {
        "mnist-vae": {"test_negative_elbo_nats": 94.9, "sample_fid_classifier": 143.5},
        "mnist-gan": {"sample_fid_classifier": 51.8},
        "mnist-wgan-gp": {"sample_fid_classifier": 40.0, "sample_min_class_share": 0.06},
        "mnist-cvae": {"test_negative_elbo_nats": 95.0, "sample_label_accuracy": 0.97},
    }.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(metrics))
    bars = {bar: met for bar, _, met in quality_bars(tmp_path)}
    assert bars["mnist-wgan-gp FID < mnist-gan's and <= mnist-vae's / 3"] is True
    assert bars["mnist-wgan-gp samples: every digit >= 5%"] is True
    assert bars["mnist-cvae negative ELBO <= mnist-vae's"] is False
    assert bars["mnist-cvae samples classified as drawn >= 95%"] is True


@pytest.fixture(scope="module")
def checkpoints(trained, tmp_path_factory):
    """Both trained for an epoch on 2,048 MNIST images, beside the session's classifier."""
    root = tmp_path_factory.mktemp("wgan-cvae")
    for model in ("wgan-gp", "cvae"):
        train_model(tiny_config(root / f"mnist-{model}", root / f"run-{model}", model, 1, lr=1e-3))
    shutil.copytree(trained["classifier"].out, root / "mnist-classifier")
    return root


@pytest.mark.slow
def test_both_train_save_load_and_evaluate(checkpoints):
    small = {"limit": 500, "samples": 500, "probe_images": 1000, "compression_images": 100, "cas_epochs": 1}
    wgan = evaluate(checkpoints / "mnist-wgan-gp", **small)
    assert wgan["sample_fid_classifier"] > 0 and len(wgan["sample_class_shares"]) == 10
    training = json.loads((checkpoints / "mnist-wgan-gp" / "config.json").read_text())["training"]
    assert len(training["wasserstein_estimate_by_epoch"]) == 1 and "final_wasserstein_estimate" in training
    assert "wasserstein_estimate_by_epoch" in (checkpoints / "mnist-wgan-gp" / "README.md").read_text()
    assert isinstance(load_model(checkpoints / "mnist-wgan-gp", "cpu"), WGANGP)
    cvae = evaluate(checkpoints / "mnist-cvae", **small | {"cas_epochs": 2}, cas_images=1000)
    assert 0 < cvae["test_negative_elbo_nats"] < 550 and 0 <= cvae["sample_label_accuracy"] <= 1
    assert cvae["test_class_accuracy"] > 0.5  # the encoder names the class after one epoch of 2,048 images
    assert set(cvae["sample_label_accuracy_per_class"]) == {str(d) for d in range(10)}
    assert "test_nll_iwae_nats" not in cvae
    score = cvae["classification_accuracy_score"]  # 1,000 generated and 1,000 real training images, two epochs
    assert score["train_images"] == 1000 and score["epochs"] == 2
    assert all(0 <= score[k] <= 1 for k in ("generated", "real", "real_plus_generated")) and score["real"] > 0.2
    assert cvae["latent_usage"]["dimensions"] == 8  # z's, not the class one-hot's
    model = load_model(checkpoints / "mnist-cvae", "cpu")
    assert isinstance(model, CVAE) and model.latent_dim == 8 + 10


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist-wgan-gp", "mnist-cvae"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_on_them(checkpoints, name, page, monkeypatch):
    monkeypatch.setattr(ui, "CHECKPOINTS", [checkpoints])
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(checkpoints / "cache"))
    app = open_page(AppTest.from_file("../genviz/app.py", default_timeout=300), f"views/{page}.py", name)
    if page == "reconstruct":  # it waits for uploads until told to take test images
        app.radio(key="recon_source").set_value("Test images").run()
    assert not app.exception and not app.error, (app.exception, app.error)
    assert images(app.main) or app.get("plotly_chart"), f"{page} shows nothing"


@pytest.mark.slow
def test_the_sample_page_draws_the_class_chosen(checkpoints, media, monkeypatch):
    """Its grid is the model's samples of the class picked, as `sample(labels=...)` draws them for the seed."""
    monkeypatch.setattr(ui, "CHECKPOINTS", [checkpoints])
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(checkpoints / "cache"))
    app = open_page(AppTest.from_file("../genviz/app.py", default_timeout=300), "views/sample.py", "mnist-cvae")
    app.select_slider[0].set_value(4).run()
    app.selectbox(key="sample_class").set_value(7).run()
    assert not app.exception and app.query_params["class"] == "7"
    (shown,) = images(app.main)
    assert "16 samples of class 7 of CVAE" in shown.captions[0]
    model = load_model(checkpoints / "mnist-cvae", "cpu")
    expected = grid(model.sample(16, torch.Generator().manual_seed(0), labels=torch.full((16,), 7)), nrow=4)
    picture = np.asarray(Image.open(io.BytesIO(media(shown.value[0]))).convert("L"), dtype=np.int16)
    assert np.abs(picture - np.asarray(expected.convert("L"), dtype=np.int16)).max() <= 1
    app.sidebar.selectbox[0].set_value(str(checkpoints / "mnist-wgan-gp")).run()  # no class to choose, none in the URL
    assert all(box.key != "sample_class" for box in app.selectbox) and "class" not in app.query_params


@pytest.mark.slow
def test_the_sidebar_card_draws_the_wasserstein_estimate_by_epoch(checkpoints, tmp_path, monkeypatch):
    shutil.copytree(checkpoints / "mnist-wgan-gp", tmp_path / "mnist-wgan-gp")
    monkeypatch.setattr(ui, "CHECKPOINTS", [tmp_path])
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    config = tmp_path / "mnist-wgan-gp" / "config.json"
    record = json.loads(config.read_text())
    record["training"]["wasserstein_estimate_by_epoch"] = [3.0, 2.0, 1.5]
    config.write_text(json.dumps(record))
    app = open_page(AppTest.from_file("../genviz/app.py", default_timeout=300), "views/home.py", "mnist-wgan-gp")
    assert "Wasserstein estimate by epoch" in [c.value for c in app.sidebar.caption]
    svg = curve_svg([3.0, 2.0, 1.5])
    (points,) = re.findall(r'<polyline points="([^"]+)"', svg)
    assert len(points.split()) == 3 and ">3<" in svg and ">1.5<" in svg  # three points, the range marked
    assert len(images(app.sidebar)) == 1 and not app.exception
    record["training"]["wasserstein_estimate_by_epoch"] = [3.0, "NaN"]  # not numbers: no curve, no error
    config.write_text(json.dumps(record))
    app = open_page(AppTest.from_file("../genviz/app.py", default_timeout=300), "views/home.py", "mnist-wgan-gp")
    assert not images(app.sidebar) and not app.exception
