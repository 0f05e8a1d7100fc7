"""Quality figures. Images are (B, C, H, W) in [0, 1]; per-image functions return (B,)."""

import math

import torch
from torch import nn
from torchmetrics.classification import BinaryAUROC
from torchmetrics.image.fid import FrechetInceptionDistance

from genviz.models.vae import VAE


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).pow(2).flatten(1).mean(1)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for a peak of 1; identical images are capped at 100 dB."""
    return 10 * torch.log10(1 / mse(x, y).clamp_min(1e-10))


@torch.no_grad()
def negative_elbo(model: VAE, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """-ELBO in nats per image with one posterior sample, as pytorch/examples' VAE test loss
    (reconstruction NLL summed over pixels, plus KL)."""
    terms = model.elbo_terms(x, generator)
    return terms["recon"] + terms["kl"]


def _normal_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


@torch.no_grad()
def iwae_nll(
    model: VAE, x: torch.Tensor, k: int = 1000, generator: torch.Generator | None = None, chunk: int = 5000
) -> torch.Tensor:
    """Importance-weighted estimate of -log p(x) in nats per image (Burda et al. 2016):
    -log mean_k p(x|z_k) p(z_k) / q(z_k|x) with z_k ~ q(z|x). It tightens towards -log p(x)
    as k grows; with k = 1 it is the negative ELBO with a sampled KL term. `chunk` bounds the
    decoder batch."""
    mu, logvar = model.encode_dist(x)  # (B, D) each
    nll = torch.empty(len(x), device=x.device)
    per_chunk = max(1, chunk // k)
    for start in range(0, len(x), per_chunk):
        m, lv, xs = mu[start : start + per_chunk], logvar[start : start + per_chunk], x[start : start + per_chunk]
        eps = torch.randn((k, *m.shape), generator=generator, device=generator.device if generator else None)
        z = m + eps.to(m) * (0.5 * lv).exp()  # (k, b, D)
        logits = model.decoder(z.flatten(0, 1))  # (k * b, C, H, W)
        targets = xs.expand(k, *xs.shape).flatten(0, 1)
        log_px_z = -model.reconstruction_nll(logits, targets).view(k, -1)  # (k, b)
        log_pz = _normal_log_density(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz = _normal_log_density(z, m, lv)
        log_w = log_px_z + log_pz - log_qz
        nll[start : start + per_chunk] = math.log(k) - torch.logsumexp(log_w, dim=0)
    return nll


class _Features(nn.Identity):
    """Lets torchmetrics' FID take features computed elsewhere, so they are computed once."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, D), with torchmetrics'
    FID implementation (Heusel et al. 2017); on Inception pool features it is the standard FID."""
    fid = FrechetInceptionDistance(feature=_Features(real.shape[1]))
    fid.update(real.double().cpu(), real=True)
    fid.update(fake.double().cpu(), real=False)
    return max(float(fid.compute()), 0.0)  # the matrix square root can leave a -1e-10 for equal sets


def _kth_neighbour_radii(points: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    radii = torch.empty(len(points), device=points.device)
    for start in range(0, len(points), chunk):
        d = torch.cdist(points[start : start + chunk], points)
        radii[start : start + chunk] = d.kthvalue(k + 1, dim=1).values  # +1: a point is its own nearest
    return radii


def _covered(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int) -> torch.Tensor:
    """For each query, whether it lies in any centre's ball."""
    inside = torch.empty(len(queries), dtype=torch.bool, device=queries.device)
    for start in range(0, len(queries), chunk):
        d = torch.cdist(queries[start : start + chunk], centres)
        inside[start : start + chunk] = (d <= radii).any(dim=1)
    return inside


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3, chunk: int = 1000) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of feature sets (N, D):
    precision is the share of fakes inside the real manifold (the union of balls reaching each
    real point's k-th nearest real neighbour), recall the share of reals inside the fake one."""
    real, fake = real.float(), fake.float()
    precision = _covered(fake, real, _kth_neighbour_radii(real, k, chunk), chunk).float().mean()
    recall = _covered(real, fake, _kth_neighbour_radii(fake, k, chunk), chunk).float().mean()
    return float(precision), float(recall)


def auroc(scores: torch.Tensor, is_anomaly: torch.Tensor) -> float:
    """Area under the ROC curve of anomaly scores (higher means more anomalous)."""
    metric = BinaryAUROC()
    metric.update(scores.float().cpu(), is_anomaly.long().cpu())
    return float(metric.compute())
