"""The regularised autoencoders' options: sparse (L1 on a non-negative code), contractive (the encoder Jacobian's
norm), and overcomplete codes; their measures (Hoyer's sparsity, the Jacobian norm) on known inputs."""

import math
import warnings

import pytest
import torch

from genviz.models.ae import AEConfig, AutoEncoder, hoyer, jacobian_norm, jacobian_sq
from genviz.training.train import build_parser, model_settings


def test_hoyer_is_zero_for_equal_entries_one_for_a_single_one_and_one_for_all_zero():
    codes = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    expected = [0.0, 1.0, 1.0, (2 - 2 / math.sqrt(2)) / (2 - 1)]
    assert hoyer(codes).tolist() == pytest.approx(expected)


@pytest.mark.slow
def test_the_jacobian_estimate_is_unbiased_and_the_exact_norm_matches_autograd():
    torch.manual_seed(0)
    model = AutoEncoder(AEConfig(latent_dim=4, width=4)).eval()
    x = torch.rand(3, 1, 28, 28)
    exact = torch.stack([torch.autograd.functional.jacobian(lambda v: model.encode(v[None])[0], image).pow(2).sum()
                         for image in x])  # fmt: skip
    assert jacobian_norm(model, x).pow(2).tolist() == pytest.approx(exact.tolist(), rel=1e-4)
    estimates = []
    for _ in range(400):
        xg = x.clone().requires_grad_(True)
        estimates.append(jacobian_sq(model.encode(xg), xg).item())
    mean, sem = torch.tensor(estimates).mean(), torch.tensor(estimates).std() / math.sqrt(len(estimates))
    assert abs(mean - exact.mean()) < 4 * sem  # unbiased: within four standard errors


def test_a_sparse_code_is_non_negative_and_its_penalty_is_in_the_loss():
    torch.manual_seed(0)
    plain, sparse = AutoEncoder(AEConfig(width=4)), AutoEncoder(AEConfig(width=4, sparsity=0.5))
    sparse.load_state_dict(plain.state_dict())
    x = torch.rand(8, 1, 28, 28)
    assert (sparse.encode(x) >= 0).all() and (plain.encode(x) < 0).any()
    losses = sparse.loss(x)
    z = sparse.encode(x)
    reconstruction = torch.nn.functional.mse_loss(sparse.decode(z), x)
    assert losses["code_l1"].item() == pytest.approx(z.abs().sum(1).mean().item(), rel=1e-5)
    assert losses["loss"].item() == pytest.approx((reconstruction + 0.5 * losses["code_l1"]).item(), rel=1e-5)
    contractive = AutoEncoder(AEConfig(width=4, contraction=1.0))
    assert contractive.loss(x)["jacobian_sq"] > 0
    assert (AEConfig(sparsity=1e-3).kind, AEConfig(contraction=0.1).kind) == ("sparse-ae", "cae")


def test_one_regulariser_at_a_time_and_a_plain_overcomplete_code_is_warned_about():
    with pytest.raises(ValueError, match="one regulariser at a time"):
        AEConfig(corruption="gaussian", sparsity=1e-3)
    with pytest.raises(ValueError, match="zero or positive"):
        AEConfig(contraction=float("nan"))
    with pytest.warns(UserWarning, match="overcomplete"):
        AEConfig(latent_dim=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for regularised in ({"sparsity": 1e-3}, {"contraction": 0.1}, {"corruption": "gaussian"}):
            AEConfig(latent_dim=1000, **regularised)


def test_the_weight_flags_tune_their_variant_and_leave_the_plain_ae_alone():
    parse = build_parser().parse_args
    common = ["--dataset", "mnist", "--out", "x", "--sparsity", "0.002", "--contraction", "0.5"]
    assert model_settings(parse(["--model", "sparse-ae", *common])) == {"sparsity": 0.002}
    assert model_settings(parse(["--model", "cae", *common])) == {"contraction": 0.5}
    assert model_settings(parse(["--model", "ae", *common])) == {}
