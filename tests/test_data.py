import numpy as np
import pytest
import torch
from PIL import Image

from genviz.data import DatasetError, cache_dir, load_dataset


def test_mnist_is_the_real_mnist():
    train = load_dataset("mnist", "train")
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels[0] == 5
    assert abs(train.images.float().mean().item() / 255 - 0.1307) < 1e-3
    assert len(load_dataset("mnist", "test")) == 10000 and train.class_names[3] == "3"


def test_batches_cover_every_image_once_in_a_seeded_order(mnist_test):
    small = mnist_test.take(1000)
    seen = []
    for x, y in small.batches(128, shuffle=True, generator=torch.Generator().manual_seed(0)):
        assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
        seen.append(y)
    assert torch.equal(torch.cat(seen).sort().values, small.labels.sort().values)
    first = next(small.batches(128, shuffle=True, generator=torch.Generator().manual_seed(0)))[1]
    assert torch.equal(first, seen[0])
    assert sum(1 for _ in small.batches(128, drop_last=True)) == 1000 // 128


def make_folder(root, name="shapes", size=12):
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("test", 3)):
        for cls in ("circle", "square"):
            (root / name / split / cls).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / name / split / cls / f"{i}.png")
    return root / name


def test_image_folder_dataset_is_decoded_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GENVIZ_CACHE_DIR", raising=False)
    folder = make_folder(tmp_path)
    data = load_dataset("shapes", "train")
    assert data.images.shape == (12, 3, 12, 12) and data.class_names == ["circle", "square"]
    assert data.labels.tolist() == [0] * 6 + [1] * 6
    expected = np.array(Image.open(folder / "train" / "square" / "0.png"))
    assert torch.equal(data.images[6], torch.from_numpy(expected).permute(2, 0, 1))
    assert len(list(cache_dir().glob("shapes-train-*.pt"))) == 1
    again = load_dataset("shapes", "train")
    assert torch.equal(again.images, data.images)
    next(cache_dir().glob("shapes-train-*.pt")).write_bytes(b"damaged")
    assert torch.equal(load_dataset("shapes", "train").images, data.images)


def test_image_folder_resizes_on_request(tmp_path, monkeypatch):
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path))
    make_folder(tmp_path)
    assert load_dataset("shapes", "test", image_size=8).images.shape == (6, 3, 8, 8)


def test_unknown_dataset_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="unknown dataset 'faces'.*GENVIZ_DATA_DIR"):
        load_dataset("faces")


def test_missing_mnist_offline_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="mnist is not under .* GENVIZ_DATA_DIR"):
        load_dataset("mnist", download=False)


def test_shared_cifar_jpeg_folder_is_a_dataset_by_its_folder_name(tmp_path, monkeypatch):
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path))
    test = load_dataset("cifar10-jpg", "test")
    assert test.images.shape == (10000, 3, 32, 32) and test.images.dtype == torch.uint8
    assert test.class_names[:3] == ["airplane", "automobile", "bird"] and len(test.class_names) == 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    assert 0.4 < test.images.float().mean().item() / 255 < 0.55  # CIFAR-10's mean pixel is about 0.47


def test_a_broken_image_in_a_folder_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path))
    folder = make_folder(tmp_path)
    (folder / "train" / "circle" / "9.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="9.png: cannot be read as an image"):
        load_dataset("shapes", "train")
