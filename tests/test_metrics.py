"""Quality figures against cases with known answers."""

import pytest
import torch

from genviz.evaluation import features
from genviz.metrics import (
    anomaly_scores,
    auroc,
    denoising_curve,
    error_map,
    false_positive_rate,
    frechet_distance,
    iwae_nll,
    mse,
    negative_elbo,
    percentile,
    precision_recall,
    roc_curve,
    ssim,
)


@pytest.fixture(scope="module")
def test_features(trained, mnist_test):
    return features(trained["classifier"].model.eval(), mnist_test.float_images(slice(0, 4000)), 500)[0]


@pytest.mark.slow
def test_frechet_distance_of_a_set_with_itself_is_near_zero(test_features):
    assert frechet_distance(test_features, test_features) < 1e-3


@pytest.mark.slow
def test_frechet_distance_to_noise_is_large(trained, test_features):
    noise = torch.rand(4000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    noise_features = features(trained["classifier"].model.eval(), noise, 500)[0]
    halves = frechet_distance(test_features[:2000], test_features[2000:])  # two samples of the same digits
    assert frechet_distance(test_features, noise_features) > 20 * halves


def test_precision_and_recall_see_missing_modes():
    g = torch.Generator().manual_seed(0)
    real = torch.cat([torch.randn(1000, 8, generator=g), torch.randn(1000, 8, generator=g) + 10])  # two clusters
    one_mode = torch.randn(1000, 8, generator=g)
    precision, recall = precision_recall(real, one_mode)
    # Fakes from one cluster look real (finite samples keep precision under 1); half the reals are missed.
    assert precision > 0.8 and 0.3 < recall < 0.55
    precision, recall = precision_recall(real, torch.randn(2000, 8, generator=g) + 30)
    assert precision == 0 and recall == 0


def test_auroc_of_perfect_and_reversed_scores():
    labels = torch.tensor([0, 0, 1, 1])
    assert auroc(torch.tensor([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert auroc(torch.tensor([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
    # Scores of any scale, such as a negative ELBO in nats: the ranking alone counts.
    assert auroc(torch.tensor([90.0, 100.0, 3000.0, 4000.0]), labels) == 1.0
    fpr, tpr = roc_curve(torch.tensor([90.0, 100.0, 3000.0, 4000.0]), labels)
    assert ((fpr == 0) & (tpr == 1)).any()


@pytest.mark.slow
def test_importance_weighting_with_one_sample_is_the_elbo_and_tightens_with_more(trained, mnist_test):
    model = trained["vae"].model.eval()
    x = mnist_test.float_images(slice(0, 50))
    # k = 1 is the ELBO with a sampled KL term instead of the closed form: equal in expectation.
    one = iwae_nll(model, x, 1, torch.Generator().manual_seed(0))
    elbo = negative_elbo(model, x, torch.Generator().manual_seed(0))
    assert abs(one.mean() - elbo.mean()) < 0.01 * elbo.mean()
    many = iwae_nll(model, x, 200, torch.Generator().manual_seed(0))
    assert torch.isfinite(many).all() and many.mean() < one.mean()


def test_ssim_and_error_map_on_known_cases():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 28, 28, generator=g)
    assert torch.allclose(ssim(x, x), torch.ones(4))
    noisy = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert (ssim(noisy, x) < 0.9).all()
    y = x.clone()
    y[:, :, 3, 5] += 0.5
    errors = error_map(y, x)
    assert errors.shape == (4, 28, 28) and torch.allclose(errors[:, 3, 5], torch.full((4,), 0.25))
    assert errors.sum() == errors[:, 3, 5].sum()


def test_roc_percentile_and_false_positive_rate():
    reference = torch.arange(100.0)  # scores 0..99
    assert percentile(50.0, reference) == 50.0 and percentile(1000.0, reference) == 100.0
    assert false_positive_rate(89.5, reference) == pytest.approx(10.0)
    scores, is_anomaly = torch.tensor([0.1, 0.2, 0.8, 0.9]), torch.tensor([0, 0, 1, 1])
    fpr, tpr = roc_curve(scores, is_anomaly)
    assert fpr[0] == 0 and tpr[-1] == 1 and auroc(scores, is_anomaly) == 1.0
    assert ((fpr == 0) & (tpr == 1)).any()  # a perfect ranking passes through the top-left corner


@pytest.mark.slow
def test_anomaly_scores_follow_the_model(trained, mnist_test):
    ae, vae = trained["ae"].model.eval(), trained["vae"].model.eval()
    images = mnist_test.images[:64]
    scores = anomaly_scores(ae, images, batch_size=20)
    x = images.float() / 255
    assert torch.allclose(scores, mse(ae.reconstruct(x), x), atol=1e-6)
    assert torch.allclose(anomaly_scores(ae, x), scores, atol=1e-6)  # floats in [0, 1] give the same scores
    elbo = anomaly_scores(vae, images, "elbo")
    assert torch.equal(elbo, anomaly_scores(vae, images, "elbo"))  # a fixed seed: the same score every time
    assert (elbo > 0).all()
    with pytest.raises(ValueError, match="needs a VAE"):
        anomaly_scores(ae, images, "elbo")


@pytest.mark.slow
def test_denoising_curve_falls_with_noise_and_the_dae_beats_the_noisy_input(trained, mnist_test):
    dae = trained["dae"].model.eval()
    clean = mnist_test.float_images(slice(0, 64))
    curves = denoising_curve({"dae": dae}, clean, "gaussian", [0.2, 0.5, 0.8])
    assert list(curves) == ["noisy input", "dae"] and all(len(c) == 3 for c in curves.values())
    noisy = curves["noisy input"]
    assert noisy[0] > noisy[1] > noisy[2]
    assert curves["dae"][2] > noisy[2]  # at sigma 0.8 even a 2-epoch DAE beats the raw noise
