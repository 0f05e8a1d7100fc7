"""Quality figures. Images are (B, C, H, W) in [0, 1]; per-image functions return (B,).

torchmetrics and scikit-learn are imported where they are used: together they cost the app's
start more than a second, and its first page needs neither."""

import math

import torch
from torch import nn

from genviz.data import to_float
from genviz.noise import corrupt

SCORES = {"reconstruction": "reconstruction error (MSE)", "elbo": "negative ELBO (nats)"}


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).pow(2).flatten(1).mean(1)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for a peak of 1; identical images are capped at 100 dB."""
    return 10 * torch.log10(1 / mse(x, y).clamp_min(1e-10))


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004; 11-pixel Gaussian window, sigma 1.5) per image, (B,)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    return structural_similarity_index_measure(x.float(), y.float(), data_range=1.0, reduction="none")


def error_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared error per pixel, averaged over channels, (B, H, W)."""
    return (x - y).pow(2).mean(1)


@torch.no_grad()
def negative_elbo(model, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """-ELBO in nats per image with one posterior sample, as pytorch/examples' VAE test loss
    (reconstruction NLL summed over pixels, plus KL). `model` is a VAE (its `elbo_terms`)."""
    terms = model.elbo_terms(x, generator)
    return terms["recon"] + terms["kl"]


def bits_per_dimension(nats: float, dims: int) -> float:
    """A negative log-density of an image's `dims` pixels k/255 in [0, 1], in nats, as bits per dimension of the
    8-bit image. Each pixel's 256 values are bins 1/255 wide there, and for a density smooth on the scale of a bin
    a bin's probability is about the density times its width: -log2 P = (nats + dims ln 255) / ln 2 (Theis et al.
    2016, section 3.1; Dinh et al. 2017 add ln 256, for pixels scaled by 1/256). For a Gaussian of sigma 0.1
    the product is within a factor of 1.001 of a bin's exact mass for values within 4 sigmas of the mean."""
    return (nats + dims * math.log(255)) / (dims * math.log(2))


def _normal_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


@torch.no_grad()
def iwae_nll(
    model, x: torch.Tensor, k: int = 1000, generator: torch.Generator | None = None, chunk: int = 5000
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
    from torchmetrics.image.fid import FrechetInceptionDistance

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


@torch.no_grad()
def anomaly_scores(
    model, images: torch.Tensor, score: str = "reconstruction", batch_size: int | None = None, progress=None
) -> torch.Tensor:
    """Anomaly scores (N,) on the CPU, higher meaning more anomalous, of images (N, C, H, W) in
    [0, 1] (uint8 is read as 0 to 255): one of the model's `score_kinds`. "reconstruction": the MSE
    of the model's reconstruction (without an exact encoder, of the nearest sample a search finds);
    "elbo": a VAE's negative ELBO. Noise is drawn with a fixed seed, so a score does not change
    between runs. `progress(done, total)`. Default batches: 500, or 100 for a model that encodes by
    a search, so that progress shows more often."""
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}; choose one of {', '.join(SCORES)}")
    if score not in model.score_kinds:
        raise ValueError(
            f"a {model.kind} has no {SCORES[score]} (the negative ELBO needs a VAE); "
            f"its scores: {', '.join(model.score_kinds)}"
        )
    batch_size = batch_size or (500 if model.has_exact_encoder else 100)
    generator = torch.Generator().manual_seed(0)
    out = []
    for start in range(0, len(images), batch_size):
        x = to_float(images[start : start + batch_size].to(model.device))
        out.append(model.anomaly_score(x, score, generator).cpu())
        if progress:
            progress(min(start + batch_size, len(images)), len(images))
    return torch.cat(out)


@torch.no_grad()
def denoising_curve(
    models: dict, clean: torch.Tensor, kind: str, levels: list[float], seed: int = 0
) -> dict[str, list[float]]:
    """Mean PSNR (dB) against clean images (N, C, H, W) in [0, 1] at each noise level: of the noisy
    input ("noisy input") and of each model's reconstruction of it. The same noise for every model."""
    curves: dict[str, list[float]] = {"noisy input": []} | {name: [] for name in models}
    for level in levels:
        noisy = corrupt(clean, kind, level, torch.Generator().manual_seed(seed))
        curves["noisy input"].append(float(psnr(noisy, clean).mean()))
        for name, model in models.items():
            out = model.reconstruct(noisy.to(model.device)).cpu()
            curves[name].append(float(psnr(out, clean).mean()))
    return curves


def is_approximate(model) -> bool:
    """Whether the model's reconstruction is a search for the nearest sample (a GAN's), not an encoding."""
    return not model.has_exact_encoder


def percentile(score: float, reference: torch.Tensor) -> float:
    """The share of reference scores below `score`, in percent."""
    return float((reference < score).float().mean()) * 100


def false_positive_rate(threshold: float, reference: torch.Tensor) -> float:
    """The share of normal (reference) images a threshold flags: scores above it, in percent."""
    return float((reference > threshold).float().mean()) * 100


def roc_curve(scores: torch.Tensor, is_anomaly: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """False- and true-positive rates (each (T,), from 0 to 1) over every threshold of the scores."""
    from sklearn.metrics import roc_curve as sklearn_roc_curve

    fpr, tpr, _ = sklearn_roc_curve(is_anomaly.long().cpu().numpy(), scores.double().cpu().numpy())
    return torch.from_numpy(fpr), torch.from_numpy(tpr)


def auroc(scores: torch.Tensor, is_anomaly: torch.Tensor) -> float:
    """Area under the ROC curve of anomaly scores (higher means more anomalous), any scale. Not
    torchmetrics' BinaryAUROC: it takes scores outside [0, 1] for logits and squashes them with a
    sigmoid, which ties every score above about 40 (a negative ELBO, say) and reads 0.5."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(is_anomaly.long().cpu().numpy(), scores.double().cpu().numpy()))


def class_as_anomalies(scores: torch.Tensor, labels: torch.Tensor, anomalous: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (N,) of labelled images with one class as the anomalies and the others as normal:
    (scores, is_anomaly (N,) bool), for `roc_curve` and `auroc`."""
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} scores for {len(labels)} labels")
    return scores, labels.cpu() == anomalous


def dataset_as_anomalies(normal: torch.Tensor, anomalous: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores of normal images (N,) and of anomalies (M,), one after the other: (scores (N + M,),
    is_anomaly (N + M,) bool), for `roc_curve` and `auroc`."""
    is_anomaly = torch.cat([torch.zeros(len(normal), dtype=torch.bool), torch.ones(len(anomalous), dtype=torch.bool)])
    return torch.cat([normal.cpu(), anomalous.cpu()]), is_anomaly
