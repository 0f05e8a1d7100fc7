"""Diagnostics of what a model learned, beyond reconstruction: latent usage, class balance of samples, linear probes,
rate-distortion against JPEG/WebP, and the classification accuracy score.

Pure functions on tensors. Loops that can take long take a `track` (tqdm's signature: iterable, total, desc), so
that a script shows a progress bar and the app a progress widget, without genviz knowing either."""

import io
import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from genviz.metrics import psnr
from genviz.models.classifier import Classifier, ClassifierConfig

ACTIVE_THRESHOLD = 0.01  # Burda et al. 2016: a unit is active when Cov_x(E_q[z_u|x]) exceeds this
CODECS = ("jpeg", "webp")
QUALITIES = (1, 2, 3, 5, 8, 12, 20, 30, 40, 50, 60, 70, 80, 90, 95)
CHUNK_ELEMENTS = 2**23  # rows of a (N, F) matrix standardised at once: 32 MB of float32

Track = Callable[[Iterable, int, str], Iterable]  # like tqdm(iterable, total, desc): wraps a loop to show progress


def quiet(iterable: Iterable, total: int, desc: str) -> Iterable:
    """A Track that shows nothing."""
    return iterable


def active_units(means: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means (N, D) over the data -> (variance over the data of each dimension's mean (D,), active (D,)
    bool). Active units: Burda et al. 2016, "Importance Weighted Autoencoders", section 5.2."""
    variance = means.float().var(0, correction=0)  # (D,)
    return variance, variance > threshold


def class_entropy_bits(shares: Sequence[float]) -> float:
    """Entropy in bits of a distribution over classes (shares sum to 1; zeros count 0); log2(K) when uniform."""
    shares = [float(p) for p in shares]
    if any(p < 0 for p in shares) or abs(sum(shares) - 1) > 1e-5:
        raise ValueError(f"class shares must be non-negative and sum to 1; got {shares} (sum {sum(shares)})")
    return max(0.0, -sum(p * math.log2(p) for p in shares if p > 0))


def _row_chunks(x: torch.Tensor) -> list[slice]:
    """Row ranges of x (N, F) small enough to copy: no standardised copy of a whole (N, F) is ever held."""
    rows = max(1, CHUNK_ELEMENTS // max(1, x.shape[1]))
    return [slice(start, start + rows) for start in range(0, len(x), rows)]


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    num_classes: int,
    l2: float = 1e-4,
    steps: int = 200,
    track: Track = quiet,
) -> float:
    """Test accuracy of a multinomial logistic regression trained on (train_x (N, F) float, train_y (N,) long),
    features standardised with the training set's mean and std (std floored at 1e-6), full-batch L-BFGS
    (torch.optim.LBFGS, line_search_fn='strong_wolfe') on cross-entropy + l2/2 * ||W||^2 (bias not penalised),
    at most `steps` iterations, deterministic (weights start at zero). Works on float32 in chunks small enough
    for 60,000 x 3,072 inputs (CIFAR-10 pixels). `track` wraps the iteration loop (total=steps, desc='linear probe').

    The linear probe of Alain & Bengio 2016, "Understanding intermediate layers using linear classifier probes"."""
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"features must be (N, F) with one F; got {tuple(train_x.shape)} and {tuple(test_x.shape)}")
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise ValueError(f"{len(train_x)}/{len(test_x)} feature rows for {len(train_y)}/{len(test_y)} labels")
    n, device = len(train_x), train_x.device
    mean = torch.zeros(train_x.shape[1], dtype=torch.float64, device=device)
    for rows in _row_chunks(train_x):  # two passes in float64, chunk by chunk
        mean += train_x[rows].double().sum(0) / n
    square = torch.zeros_like(mean)
    for rows in _row_chunks(train_x):
        square += (train_x[rows].double() - mean).pow(2).sum(0) / n
    scale = 1 / square.sqrt().clamp_min(1e-6)  # (F,)
    # (x - mean) / std as one fused x * scale + shift, recomputed chunk by chunk at each evaluation: an (N, F)
    # standardised copy would double the memory of CIFAR-10's pixels (737 MB).
    scale, shift = scale.float(), (-mean * scale).float()  # (F,) each
    weight = torch.zeros(train_x.shape[1], num_classes, device=device, requires_grad=True)  # (F, K)
    bias = torch.zeros(num_classes, device=device, requires_grad=True)  # (K,)
    # One iteration per step() so that `track` sees each (the history lives on in the optimiser's state); max_eval
    # leaves the strong-Wolfe line search its 25 evaluations, which max_iter=1's default (1) would not.
    optimiser = torch.optim.LBFGS([weight, bias], max_iter=1, max_eval=26, line_search_fn="strong_wolfe")
    train_y = train_y.to(device)
    cache = {}  # the last evaluation: each step() starts by evaluating where the line search just ended

    def closure() -> float:
        point = torch.cat([weight.detach().flatten(), bias.detach()])
        if "point" in cache and torch.equal(point, cache["point"]):
            weight.grad, bias.grad = cache["grads"][0].clone(), cache["grads"][1].clone()
            return cache["loss"]
        optimiser.zero_grad()
        loss = l2 / 2 * weight.pow(2).sum()
        loss.backward()
        total = float(loss.detach())
        for rows in _row_chunks(train_x):
            z = torch.addcmul(shift, train_x[rows].float(), scale)  # (rows, F) standardised
            chunk = F.cross_entropy(z @ weight + bias, train_y[rows], reduction="sum") / n
            chunk.backward()  # gradients add up over chunks; each chunk's graph is freed
            total += float(chunk.detach())
        cache.update(point=point, loss=total, grads=(weight.grad.clone(), bias.grad.clone()))
        return total

    for _ in track(range(steps), steps, "linear probe"):
        before = torch.cat([weight.detach().flatten(), bias.detach()])
        optimiser.step(closure)
        if torch.equal(before, torch.cat([weight.detach().flatten(), bias.detach()])):
            break  # converged: L-BFGS no longer moves
    correct = 0
    with torch.no_grad():
        for rows in _row_chunks(test_x):
            z = torch.addcmul(shift, test_x[rows].to(device).float(), scale)  # (rows, F)
            correct += int(((z @ weight + bias).argmax(1) == test_y[rows].to(device)).sum())
    return correct / max(1, len(test_x))


def quantiser_range(codes: torch.Tensor, tail: float = 0.001) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension (lo (D,), hi (D,)) of codes (N, D): the tail and 1-tail quantiles (torch.quantile on at most
    100,000 rows, evenly strided); hi = lo + 1e-6 where they meet (a constant dimension, e.g. an unused one)."""
    if codes.ndim != 2 or len(codes) == 0:
        raise ValueError(f"quantiser_range takes codes (N, D) with N >= 1; got {tuple(codes.shape)}")
    rows = codes[:: math.ceil(len(codes) / 100_000)].float()
    lo, hi = torch.quantile(rows, torch.tensor([tail, 1 - tail], device=rows.device), dim=0)  # (D,) each
    return lo, torch.where(hi > lo, hi, lo + 1e-6)


def symbols(z: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bits: int) -> torch.Tensor:
    """The level indices (N, D) long, 0 to 2**bits - 1, of z (N, D) quantised uniformly over [lo, hi] (clamped)."""
    levels = 2**bits
    lo, hi = lo.to(z), hi.to(z)
    width = (hi - lo).clamp_min(torch.finfo(z.dtype).tiny)  # lo + 1e-6 rounds to lo for |lo| >= 32 in float32
    position = (torch.minimum(torch.maximum(z, lo), hi) - lo) / width  # (N, D) in [0, 1]
    return (position * (levels - 1)).round().long().clamp(0, levels - 1)


def quantise(z: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bits: int) -> torch.Tensor:
    """Uniform scalar quantisation of z (N, D) to 2**bits levels per dimension spanning [lo, hi] including both ends
    (so 0 and 1 of a one-hot entry come back exact when lo=0, hi=1); values outside are clamped. Returns the
    dequantised values (N, D)."""
    weight = symbols(z, lo, hi, bits).to(z) / (2**bits - 1)  # (N, D) in [0, 1]
    return torch.lerp(lo.to(z).expand_as(z), hi.to(z).expand_as(z), weight)  # lerp returns both ends exactly


def code_entropy_bits(codes: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bits: int) -> float:
    """Bits per image an ideal entropy coder needs for codes (N, D) quantised at `bits`: the sum over dimensions of
    the empirical entropy (bits) of that dimension's level indices over the N codes (Shannon 1948)."""
    n, d = codes.shape
    levels = 2**bits
    s = symbols(codes, lo, hi, bits) + torch.arange(d, device=codes.device) * levels  # (N, D) distinct per dim
    p = torch.bincount(s.flatten(), minlength=d * levels).view(d, levels).double() / n  # (D, levels)
    return float(-(p * p.clamp_min(1e-300).log2()).sum())


@torch.no_grad()
def model_rate_distortion(
    encode: Callable[[torch.Tensor], torch.Tensor],
    decode: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    train_codes: torch.Tensor,
    bits: Sequence[int] = range(2, 9),
    batch_size: int = 500,
    track: Track = quiet,
) -> list[dict]:
    """Rate-distortion of a model's code: images (N, C, H, W) float in [0, 1] are encoded (encode: (B,C,H,W)->(B,D)),
    quantised at each `bits` per dimension over the range of `train_codes` (N', D) (quantiser_range), decoded
    (decode: (B,D)->(B,C,H,W) in [0,1]); one row per bits, sorted by bits: {"bits_per_dimension": b,
    "bits_per_image": b * D (a fixed-length code), "entropy_bits_per_image": code_entropy_bits(train_codes, ..., b),
    "psnr_db": mean over images of genviz.metrics.psnr(decoded, images)}. Encodes each batch once (not once per b).
    track wraps the batch loop (desc='rate-distortion')."""
    bits = sorted(bits)
    lo, hi = quantiser_range(train_codes)
    total = dict.fromkeys(bits, 0.0)  # sum of PSNR over images, per bits
    batches = range(0, len(images), batch_size)
    for start in track(batches, len(batches), "rate-distortion"):
        x = images[start : start + batch_size]
        z = encode(x)  # (B, D)
        if z.shape[1:] != train_codes.shape[1:]:
            raise ValueError(f"encode gives codes {tuple(z.shape[1:])}; train_codes are {tuple(train_codes.shape[1:])}")
        for b in bits:
            total[b] += float(psnr(decode(quantise(z, lo, hi, b)).to(x), x).sum())
    d = train_codes.shape[1]
    return [
        {
            "bits_per_dimension": b,
            "bits_per_image": b * d,
            "entropy_bits_per_image": code_entropy_bits(train_codes, lo, hi, b),
            "psnr_db": total[b] / len(images),
        }
        for b in bits
    ]


def codec_curve(
    images: torch.Tensor, codec: str, qualities: Sequence[int] = QUALITIES, track: Track = quiet
) -> list[dict]:
    """Pillow's JPEG or WebP as a rate-distortion baseline: each image (N, C, H, W) float in [0, 1] (rounded to
    uint8 first; C is 1 -> mode 'L', 3 -> 'RGB') saved at each quality (JPEG: optimize=True; WebP: method=6,
    lossy), read back, and one row per quality sorted by quality: {"quality": q, "bits_per_image": mean file size
    in bits (headers included), "psnr_db": mean PSNR of the decoded image against the uint8-rounded original}.
    Unknown codec -> ValueError naming the known ones. track wraps the loop over qualities
    (desc=f'{codec} baseline')."""
    options = {"jpeg": {"format": "JPEG", "optimize": True}, "webp": {"format": "WEBP", "method": 6, "lossless": False}}
    if codec not in options:
        raise ValueError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"codec_curve takes (N, C, H, W) images with 1 or 3 channels; got {tuple(images.shape)}")
    pixels = (images.detach().float().cpu() * 255).round().clamp(0, 255).to(torch.uint8)  # (N, C, H, W)
    arrays = pixels.permute(0, 2, 3, 1).numpy()  # (N, H, W, C)
    originals = pixels.float() / 255
    qualities = sorted(qualities)
    rows = []
    for q in track(qualities, len(qualities), f"{codec} baseline"):
        sizes, decoded = [], []
        for array in arrays:
            buffer = io.BytesIO()
            Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(buffer, quality=q, **options[codec])
            sizes.append(buffer.tell() * 8)
            back = np.asarray(Image.open(buffer).convert("L" if array.shape[-1] == 1 else "RGB"))
            decoded.append(torch.from_numpy(back.reshape(array.shape).copy()))
        decoded = torch.stack(decoded).permute(0, 3, 1, 2).float() / 255  # (N, C, H, W)
        rows.append(
            {"quality": q, "bits_per_image": sum(sizes) / len(sizes), "psnr_db": float(psnr(decoded, originals).mean())}
        )
    return rows


def bits_at_psnr(curve: list[dict], psnr_db: float, key: str = "bits_per_image") -> float | None:
    """Bits per image (the row's `key`) a curve needs to reach psnr_db: rows sorted by bits, keep the running
    maximum of PSNR (a higher rate never needs to do worse), linear interpolation of bits between the two rows
    around psnr_db. None where the curve never reaches it; the first row's bits where its PSNR is already above."""
    rows = sorted(curve, key=lambda row: row[key])
    best = -math.inf
    for i, row in enumerate(rows):
        previous, best = best, max(best, row["psnr_db"])
        if best >= psnr_db:
            if i == 0:
                return float(row[key])
            b0, b1 = rows[i - 1][key], row[key]  # previous < psnr_db <= best, so best > previous
            return float(b0 + (psnr_db - previous) / (best - previous) * (b1 - b0))
    return None


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    epochs: int = 5,
    batch_size: int = 128,
    seed: int = 0,
    width: int = 16,
    track: Track = quiet,
) -> Classifier:
    """A small genviz Classifier (ClassifierConfig(image_shape=images.shape[1:], num_classes, latent_dim=64,
    width=width, dropout=0.3)) trained from a seeded init with Adam (lr 1e-3) on cross-entropy, shuffled with a
    seeded torch.Generator, on the device of `images`; returned in eval mode. track wraps the epoch loop
    (total=epochs, desc='training a classifier'). The global random state is left as it was."""
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images for {len(labels)} labels")
    device = images.device
    labels = labels.to(device)
    config = ClassifierConfig(
        image_shape=tuple(images.shape[1:]), num_classes=num_classes, latent_dim=64, width=width, dropout=0.3
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)  # the init and the dropout masks
        model = Classifier(config).to(device).train()
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in track(range(epochs), epochs, "training a classifier"):
            order = torch.randperm(len(images), generator=generator).to(device)
            for start in range(0, len(images), batch_size):
                batch = order[start : start + batch_size]
                loss = model.loss(images[batch], labels[batch])["loss"]
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
    return model.eval()


@torch.no_grad()
def accuracy(classifier: Classifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Share of images (N, C, H, W) in [0, 1] whose top class is their label (N,)."""
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = classifier(images[start : start + batch_size].to(classifier.device))  # (B, K)
        correct += int((logits.argmax(1).cpu() == labels[start : start + batch_size].cpu()).sum())
    return correct / max(1, len(images))


def classification_accuracy_score(
    generated: tuple[torch.Tensor, torch.Tensor],
    real: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    epochs: int = 5,
    track: Track = quiet,
) -> dict:
    """Ravuri & Vinyals 2019's classification accuracy score ("Classification Accuracy Score for Conditional
    Generative Models"): the same small classifier (train_classifier, same seed) trained on generated labelled
    images, on as many real ones, and on both together, each tested on the real test set (images (N, C, H, W) in
    [0, 1], labels (N,) long). Returns {"generated": acc, "real": acc, "real_plus_generated": acc,
    "train_images": len(generated images), "epochs": epochs}. Refuses generated and real sets of different sizes."""
    (gen_x, gen_y), (real_x, real_y), (test_x, test_y) = generated, real, test
    if len(gen_x) != len(real_x):
        raise ValueError(
            f"{len(gen_x)} generated images against {len(real_x)} real ones: the score compares classifiers trained "
            "on as many images of each; take the same number of both"
        )
    both_x, both_y = torch.cat([real_x, gen_x.to(real_x)]), torch.cat([real_y, gen_y.to(real_y)])
    scores = {
        name: accuracy(train_classifier(x, y, num_classes, epochs, track=track), test_x, test_y)
        for name, (x, y) in {"generated": generated, "real": real, "real_plus_generated": (both_x, both_y)}.items()
    }
    return scores | {"train_images": len(gen_x), "epochs": epochs}
