"""Diagnostics against cases with known answers, on real MNIST where data is needed."""

import math

import pytest
import torch
import torch.nn.functional as F

import genviz.diagnostics as diagnostics
from genviz.data import load_dataset
from genviz.diagnostics import (
    CODECS,
    accuracy,
    active_units,
    bits_at_psnr,
    class_entropy_bits,
    classification_accuracy_score,
    code_entropy_bits,
    codec_curve,
    linear_probe,
    model_rate_distortion,
    quantise,
    quantiser_range,
    symbols,
    train_classifier,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a small shared machine, two threads spin-waiting for each other slow L-BFGS's many
    small operations tenfold. Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mnist_train():
    return load_dataset("mnist", "train")


def _blobs(n: int, dim: int, classes: int, spread: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, dim) Gaussian points around `classes` random centres 10 apart on average, and their labels (n,)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=g) * 10 / math.sqrt(2 * dim)
    labels = torch.randint(0, classes, (n,), generator=g)
    return centres[labels] + spread * torch.randn(n, dim, generator=g), labels


def test_active_units_separate_varying_from_constant_dimensions():
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([1.0, 0.5, 0.2, 0.0, 0.01, 0.05])  # variances 1, .25, .04, 0, 1e-4, 2.5e-3
    means = torch.randn(5000, 6, generator=g) * scales + 3.0
    variance, active = active_units(means)
    assert active.tolist() == [True, True, True, False, False, False]
    torch.testing.assert_close(variance, scales**2, rtol=0.1, atol=1e-6)
    assert active_units(means, threshold=1e-3)[1].tolist() == [True, True, True, False, False, True]


def test_class_entropy_bits():
    assert class_entropy_bits([0.1] * 10) == pytest.approx(math.log2(10))
    assert class_entropy_bits([1.0] + [0.0] * 9) == 0
    assert class_entropy_bits([0.5, 0.5, 0, 0]) == pytest.approx(1.0)
    assert 0 < class_entropy_bits([0.91] + [0.01] * 9) < 1 < class_entropy_bits([0.3, 0.3, 0.4]) < math.log2(3)
    with pytest.raises(ValueError, match="sum to 1"):
        class_entropy_bits([0.5, 0.4])


def test_linear_probe_reads_mnist_pixels_and_not_shuffled_labels(mnist_train, mnist_test):
    train_x, train_y = mnist_train.float_images(slice(0, 2000)).flatten(1), mnist_train.labels[:2000]
    test_x, test_y = mnist_test.float_images(slice(0, 500)).flatten(1), mnist_test.labels[:500]
    assert linear_probe(train_x, train_y, test_x, test_y, 10, steps=100) > 0.8
    shuffled = train_y[torch.randperm(2000, generator=torch.Generator().manual_seed(0))]
    assert linear_probe(train_x, shuffled, test_x, test_y, 10, steps=100) < 0.3


def test_linear_probe_separates_separable_classes_at_any_scale():
    x, y = _blobs(600, 20, 4, spread=0.3)
    seen = []

    def track(iterable, total, desc):
        seen.append((total, desc))
        return iterable

    first = linear_probe(x[:400], y[:400], x[400:], y[400:], 4, steps=50, track=track)
    assert first == 1.0 and seen == [(50, "linear probe")]
    # Features on another scale and offset: standardisation makes them the same problem.
    assert linear_probe(x[:400] * 1e3 + 5, y[:400], x[400:] * 1e3 + 5, y[400:], 4, steps=50) == 1.0


def test_linear_probe_in_small_chunks_learns_the_same(monkeypatch):
    x, y = _blobs(1200, 16, 5, spread=4.0, seed=1)  # overlapping classes: accuracy well below 1
    whole = linear_probe(x[:800], y[:800], x[800:], y[800:], 5, steps=30)
    monkeypatch.setattr(diagnostics, "CHUNK_ELEMENTS", 16 * 70)  # 70 rows at a time, 12 chunks
    chunked = linear_probe(x[:800], y[:800], x[800:], y[800:], 5, steps=30)
    assert 0.4 < whole < 0.98 and abs(chunked - whole) <= 0.01
    with pytest.raises(ValueError, match="labels"):
        linear_probe(x[:800], y[:700], x[800:], y[800:], 5)


def test_quantiser_range_takes_the_tails_and_widens_constant_dimensions():
    g = torch.Generator().manual_seed(0)
    codes = torch.cat([torch.rand(20000, 2, generator=g), torch.full((20000, 1), 0.25)], dim=1)
    lo, hi = quantiser_range(codes)
    torch.testing.assert_close(lo[:2], torch.full((2,), 0.001), atol=5e-4, rtol=0)
    torch.testing.assert_close(hi[:2], torch.full((2,), 0.999), atol=5e-4, rtol=0)
    assert lo[2] == 0.25 and hi[2] == lo[2] + 1e-6
    far = torch.full((100, 1), 1000.0)  # a constant dimension where lo + 1e-6 rounds back to lo in float32
    lo, hi = quantiser_range(far)
    assert torch.equal(symbols(far, lo, hi, 8), torch.zeros(100, 1, dtype=torch.long))
    assert torch.equal(quantise(far, lo, hi, 8), far)
    with pytest.raises(ValueError, match="N >= 1"):
        quantiser_range(torch.zeros(0, 4))


def test_quantise_is_exact_at_the_ends_clamps_and_improves_with_bits():
    lo, hi = torch.zeros(10), torch.ones(10)
    one_hot = F.one_hot(torch.arange(10) % 10, 10).float()  # (10, 10)
    for bits in range(1, 9):
        assert torch.equal(quantise(one_hot, lo, hi, bits), one_hot)
    z = torch.rand(2000, 10, generator=torch.Generator().manual_seed(0))
    errors = []
    for bits in range(1, 9):
        s = symbols(z, lo, hi, bits)
        assert s.dtype == torch.long and s.min() == 0 and s.max() == 2**bits - 1
        error = (quantise(z, lo, hi, bits) - z).abs()
        assert error.max() <= 0.5 / (2**bits - 1) + 1e-6  # half a step
        errors.append(float(error.mean()))
    assert errors == sorted(errors, reverse=True) and errors[-1] < errors[0] / 100
    outside = torch.tensor([[-5.0] * 10, [7.0] * 10])
    assert torch.equal(quantise(outside, lo, hi, 3), torch.tensor([[0.0] * 10, [1.0] * 10]))


def test_code_entropy_bits():
    lo, hi = torch.zeros(3), torch.full((3,), 15.0)
    assert code_entropy_bits(torch.full((500, 3), 7.0), lo, hi, 4) == 0
    g = torch.Generator().manual_seed(0)
    uniform = torch.randint(0, 16, (20000, 3), generator=g).float()  # each level of 4 bits equally likely
    assert code_entropy_bits(uniform, lo, hi, 4) == pytest.approx(12, abs=0.01)
    halves = torch.tensor([[0.0, 0.0, 0.0], [15.0, 0.0, 0.0]]).repeat(100, 1)  # one fair bit in dimension 0
    assert code_entropy_bits(halves, lo, hi, 4) == pytest.approx(1.0)


def test_model_rate_distortion_of_an_identity_code(mnist_test):
    images = F.avg_pool2d(mnist_test.float_images(slice(0, 300)), 7)  # (300, 1, 4, 4) real digits, blurred
    encodes = []

    def encode(x):
        encodes.append(len(x))
        return x.flatten(1)  # (B, 16)

    rows = model_rate_distortion(
        encode, lambda z: z.view(-1, 1, 4, 4), images[:200], images[200:].flatten(1), bits=[8, 2, 4, 3], batch_size=64
    )
    assert encodes == [64, 64, 64, 8]  # each batch once, whatever the number of bit depths
    assert [row["bits_per_dimension"] for row in rows] == [2, 3, 4, 8]
    assert [row["bits_per_image"] for row in rows] == [32, 48, 64, 128]
    psnrs = [row["psnr_db"] for row in rows]
    assert psnrs == sorted(psnrs) and psnrs[0] + 10 < psnrs[-1]
    entropies = [row["entropy_bits_per_image"] for row in rows]
    assert entropies == sorted(entropies) and all(0 < e <= row["bits_per_image"] for e, row in zip(entropies, rows))


@pytest.mark.parametrize("codec", CODECS)
def test_codec_curve_rises_with_quality(mnist_test, codec):
    rows = codec_curve(mnist_test.float_images(slice(0, 50)), codec, qualities=(90, 5, 30, 60, 1, 95))
    assert [row["quality"] for row in rows] == [1, 5, 30, 60, 90, 95]
    bits, psnrs = torch.tensor([[row["bits_per_image"], row["psnr_db"]] for row in rows]).T
    assert bits.min() > 0 and bits[-1] > bits[0] and psnrs[-1] > psnrs[0] + 10
    quality = torch.tensor([row["quality"] for row in rows], dtype=torch.float)
    assert torch.corrcoef(torch.stack([quality, bits]))[0, 1] > 0.8
    assert torch.corrcoef(torch.stack([quality, psnrs]))[0, 1] > 0.8
    assert psnrs[-1] > 40  # quality 95 is close to the uint8 original


def test_codec_curve_takes_rgb_and_refuses_unknown_codecs(mnist_test):
    rgb = mnist_test.float_images(slice(0, 4)).expand(-1, 3, -1, -1)  # (4, 3, 28, 28)
    (row,) = codec_curve(rgb, "webp", qualities=(80,))
    assert row["bits_per_image"] > 0 and row["psnr_db"] > 30
    with pytest.raises(ValueError, match="jpeg, webp"):
        codec_curve(rgb, "png")


def test_bits_at_psnr_interpolates_on_the_running_maximum():
    curve = [
        {"bits_per_image": 300, "psnr_db": 28.0, "entropy": 3},  # unsorted; worse than a cheaper row
        {"bits_per_image": 100, "psnr_db": 20.0, "entropy": 1},
        {"bits_per_image": 400, "psnr_db": 40.0, "entropy": 4},
        {"bits_per_image": 200, "psnr_db": 30.0, "entropy": 2},
    ]
    assert bits_at_psnr(curve, 25.0) == pytest.approx(150)
    assert bits_at_psnr(curve, 30.0) == pytest.approx(200)
    assert bits_at_psnr(curve, 35.0) == pytest.approx(350)  # between (300, max 30 dB so far) and (400, 40 dB)
    assert bits_at_psnr(curve, 35.0, key="entropy") == pytest.approx(3.5)
    assert bits_at_psnr(curve, 15.0) == 100
    assert bits_at_psnr(curve, 40.5) is None


def test_train_classifier_is_seeded_and_leaves_the_global_random_state(mnist_test):
    x, y = mnist_test.float_images(slice(0, 200)), mnist_test.labels[:200]
    state = torch.get_rng_state()
    first = train_classifier(x, y, 10, epochs=1, batch_size=64)
    assert torch.equal(torch.get_rng_state(), state)
    second = train_classifier(x, y, 10, epochs=1, batch_size=64)
    other = train_classifier(x, y, 10, epochs=1, batch_size=64, seed=1)
    assert not first.training and first.config.latent_dim == 64 and first.config.width == 16
    for name, weight in first.state_dict().items():
        assert torch.equal(weight, second.state_dict()[name]), name
    assert not torch.equal(first.head[1].weight, other.head[1].weight)


@pytest.mark.slow
def test_a_classifier_trained_on_3000_digits_reads_the_test_set(mnist_train, mnist_test):
    classifier = train_classifier(mnist_train.float_images(slice(0, 3000)), mnist_train.labels[:3000], 10, epochs=2)
    assert accuracy(classifier, mnist_test.float_images(slice(0, 1000)), mnist_test.labels[:1000]) > 0.85


@pytest.mark.slow
def test_classification_accuracy_score_sees_wrong_labels(mnist_train, mnist_test):
    images, labels = mnist_train.float_images(slice(0, 4000)), mnist_train.labels[:4000]
    wrong = labels[2000:][torch.randperm(2000, generator=torch.Generator().manual_seed(0))]  # "samples" off-label
    test = (mnist_test.float_images(slice(0, 1000)), mnist_test.labels[:1000])
    score = classification_accuracy_score((images[2000:], wrong), (images[:2000], labels[:2000]), test, 10, epochs=2)
    assert score["train_images"] == 2000 and score["epochs"] == 2
    assert score["generated"] < 0.3 < 0.75 < score["real"]  # 2,000 real digits, 2 epochs: about 0.83
    assert score["generated"] < score["real_plus_generated"]


def test_classification_accuracy_score_refuses_sets_of_different_sizes(mnist_test):
    x, y = mnist_test.float_images(slice(0, 30)), mnist_test.labels[:30]
    with pytest.raises(ValueError, match="20 generated images against 30 real"):
        classification_accuracy_score((x[:20], y[:20]), (x, y), (x, y), 10)
