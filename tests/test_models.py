import pytest
import torch

from genviz.models import (
    REGISTRY,
    AEConfig,
    AutoEncoder,
    ClassifierConfig,
    VAEConfig,
    build_model,
    explorable_families,
    trained_families,
)
from genviz.models.base import spatial_sizes
from genviz.noise import NOISE_KINDS, corrupt

SHAPES = [(1, 28, 28), (3, 32, 32), (3, 64, 64)]


@pytest.mark.parametrize("family", sorted(set(explorable_families()) & set(trained_families())))
@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_and_ranges(family, shape):
    model = build_model(family, REGISTRY[family][1](image_shape=shape, latent_dim=5, width=8)).eval()
    x = torch.rand(3, *shape)
    z = model.encode(x) if model.has_exact_encoder else model.encode(x, steps=3)
    latent = 5 + (model.config.num_classes if model.conditional else 0)  # a conditional VAE's classes follow z
    assert z.shape == (3, latent)
    y = model.decode(z)
    assert y.shape == (3, *shape)
    assert 0 <= y.min() and y.max() <= 1
    assert model.sample(4, torch.Generator().manual_seed(1)).shape == (4, *shape)
    losses = model.loss(x, torch.tensor([0, 1, 0]))
    assert losses["loss"].ndim == 0 and torch.isfinite(losses["loss"])
    assert model.latent_dim == latent and model.image_shape == shape


@pytest.mark.parametrize("shape", SHAPES)
def test_classifier_scores_and_features(shape):
    model = build_model("classifier", ClassifierConfig(image_shape=shape, latent_dim=12, width=8, num_classes=5))
    x, labels = torch.rand(3, *shape), torch.tensor([0, 4, 2])
    assert model(x).shape == (3, 5)
    features = model.eval().features(x)
    assert features.shape == (3, 12) and features.min() >= 0
    losses = model.loss(x, labels)
    assert torch.isfinite(losses["loss"]) and 0 <= losses["accuracy"] <= 1


def test_spatial_sizes():
    assert spatial_sizes(28) == [28, 14, 7, 4]
    assert spatial_sizes(32) == [32, 16, 8, 4]
    assert spatial_sizes(64) == [64, 32, 16, 8, 4]


@pytest.mark.parametrize("bad", [dict(image_shape=(2, 28, 28)), dict(image_shape=(1, 28, 30)), dict(latent_dim=0)])
def test_config_rejects_bad_settings(bad):
    with pytest.raises(ValueError):
        VAEConfig(**bad)


def test_same_seed_same_samples_other_seed_other_samples():
    model = build_model("vae", VAEConfig(latent_dim=4, width=8)).eval()
    a = model.sample(8, torch.Generator().manual_seed(3))
    assert torch.equal(a, model.sample(8, torch.Generator().manual_seed(3)))
    assert not torch.equal(a, model.sample(8, torch.Generator().manual_seed(4)))


def test_vae_encode_is_posterior_mean():
    model = build_model("vae", VAEConfig(latent_dim=4, width=8)).eval()
    x = torch.rand(2, 1, 28, 28)
    mu, logvar = model.encode_dist(x)
    assert torch.equal(model.encode(x), mu) and logvar.shape == mu.shape


def test_vae_beta_weights_kl():
    x = torch.rand(4, 1, 28, 28)
    torch.manual_seed(0)
    plain = build_model("vae", VAEConfig(latent_dim=4, width=8, beta=1.0))
    torch.manual_seed(0)
    heavy = build_model("vae", VAEConfig(latent_dim=4, width=8, beta=4.0))
    torch.manual_seed(1)
    a = plain.loss(x)
    torch.manual_seed(1)
    b = heavy.loss(x)
    assert torch.allclose(b["loss"], a["recon"] + 4 * a["kl"])


def test_free_bits_leave_each_dimensions_first_nats_unpenalised():
    x = torch.rand(8, 1, 28, 28)
    torch.manual_seed(0)
    model = build_model("vae", VAEConfig(latent_dim=4, width=8, beta=2.0, free_bits=0.5))
    torch.manual_seed(1)
    losses = model.loss(x)
    torch.manual_seed(1)
    per_dim = model.elbo_terms(x)["kl_dims"].mean(0)  # (D,): the same posterior sample
    assert losses["kl"].item() == pytest.approx(per_dim.sum().item(), rel=1e-5)  # the true KL is reported
    floor = per_dim.clamp_min(0.5).sum()
    assert losses["loss"].item() == pytest.approx((losses["recon"] + 2 * floor).item(), rel=1e-5)
    # A dimension under the floor gets no gradient from the KL term; one above it does.
    mu = torch.tensor([[0.1, 2.0]], requires_grad=True)
    model.kl_penalty(model.kl_dims(mu, torch.zeros(1, 2))).backward()
    assert mu.grad[0, 0] == 0 and mu.grad[0, 1] > 0
    with pytest.raises(ValueError, match="free_bits"):
        VAEConfig(free_bits=-1)


def test_dae_is_an_ae_with_corruption():
    dae = AutoEncoder(AEConfig(corruption="salt-pepper", noise_level=0.2))
    assert dae.kind == "dae" and AutoEncoder(AEConfig()).kind == "ae"
    x = torch.full((2, 1, 28, 28), 0.5)
    noisy = dae.corrupt(x, torch.Generator().manual_seed(0))
    flipped = (noisy != x).float().mean().item()
    assert 0.15 < flipped < 0.25 and set(noisy[noisy != x].unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_corruption_is_seeded_and_in_range(kind):
    x = torch.rand(2, 1, 28, 28)
    a = corrupt(x, kind, 0.3, torch.Generator().manual_seed(0))
    assert torch.equal(a, corrupt(x, kind, 0.3, torch.Generator().manual_seed(0)))
    assert not torch.equal(a, x) and 0 <= a.min() and a.max() <= 1


def test_unknown_corruption_raises():
    with pytest.raises(ValueError, match="unknown noise kind"):
        corrupt(torch.rand(1, 1, 8, 8), "blur", 0.1)


def test_ae_prior_is_fitted_to_latents():
    model = AutoEncoder(AEConfig(latent_dim=3, width=8)).eval()
    images = torch.rand(200, 1, 28, 28)
    model.fit_prior(images)
    z = model.encode(images)
    assert torch.allclose(model.latent_mean, z.mean(0), atol=1e-5)
    samples = model.prior(4000, torch.Generator().manual_seed(0))
    assert torch.allclose(samples.mean(0), z.mean(0), atol=0.1 * z.std(0).max().item())
