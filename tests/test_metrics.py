"""Quality figures against cases with known answers."""

import pytest
import torch

from genviz.metrics import auroc, frechet_distance, iwae_nll, negative_elbo, precision_recall
from training.evaluate import features


@pytest.fixture(scope="module")
def test_features(trained, mnist_test):
    return features(trained["classifier"].model.eval(), mnist_test.float_images(slice(0, 4000)), 500)[0]


def test_frechet_distance_of_a_set_with_itself_is_near_zero(test_features):
    assert frechet_distance(test_features, test_features) < 1e-3


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


def test_importance_weighting_with_one_sample_is_the_elbo_and_tightens_with_more(trained, mnist_test):
    model = trained["vae"].model.eval()
    x = mnist_test.float_images(slice(0, 50))
    # k = 1 is the ELBO with a sampled KL term instead of the closed form: equal in expectation.
    one = iwae_nll(model, x, 1, torch.Generator().manual_seed(0))
    elbo = negative_elbo(model, x, torch.Generator().manual_seed(0))
    assert abs(one.mean() - elbo.mean()) < 0.01 * elbo.mean()
    many = iwae_nll(model, x, 200, torch.Generator().manual_seed(0))
    assert torch.isfinite(many).all() and many.mean() < one.mean()
