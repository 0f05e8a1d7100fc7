import numpy as np
import pytest
import torch
from PIL import Image

from genviz.data import DatasetError, ImageDataset, cache_dir, load_dataset


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
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
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
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
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


def test_caches_go_to_genviz_cache_dir_then_xdg_cache_home_then_home_never_the_data_root(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path / "data"))  # writable: once the default cache folder
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GENVIZ_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "genviz"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG spec ignores a relative path
    assert cache_dir() == tmp_path / "home" / ".cache" / "genviz"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert cache_dir() == tmp_path / "home" / ".cache" / "genviz"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "genviz"
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_a_decoded_folder_is_cached_outside_a_writable_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GENVIZ_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    make_folder(tmp_path / "data")
    before = sorted((tmp_path / "data").rglob("*"))
    load_dataset("shapes", "train")
    assert sorted((tmp_path / "data").rglob("*")) == before  # nothing written into the user's dataset folder
    assert len(list((tmp_path / "xdg" / "genviz").glob("shapes-train-*.pt"))) == 1


def sorted_by_class(sizes: list[int]) -> ImageDataset:
    """A synthetic dataset, its images sorted by class (`sizes[k]` of class k), every image different."""
    labels = torch.arange(len(sizes)).repeat_interleave(torch.tensor(sizes))
    images = torch.randint(
        0, 256, (len(labels), 1, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    return ImageDataset("synthetic", "train", images, labels, [str(k) for k in range(len(sizes))])


def test_sample_gives_each_class_its_share_where_take_gives_the_first_class():
    data = sorted_by_class([100] * 10)
    sample = data.sample(50)
    assert torch.bincount(sample.labels, minlength=10).tolist() == [5] * 10
    assert data.take(50).labels.unique().tolist() == [0]
    uneven = sorted_by_class([400, 300, 200, 90, 10]).sample(100)
    assert torch.bincount(uneven.labels).tolist() == [40, 30, 20, 9, 1]
    assert len(sample) == 50 and sample.class_names == data.class_names
    assert torch.equal(sample.index, sample.index.sort().values) and len(sample.index.unique()) == 50
    assert torch.equal(sample.images, data.images[sample.index])
    assert torch.equal(sample.labels, data.labels[sample.index])


@pytest.mark.parametrize("n", [5, 6, 10, 37, 100, 333, 999])
def test_sample_shares_are_within_one_image_of_proportional_and_add_up_to_n(n):
    sizes = [400, 300, 200, 90, 10]
    counts = torch.bincount(sorted_by_class(sizes).sample(n, seed=n).labels, minlength=5).tolist()
    assert sum(counts) == n and min(counts) >= 1
    # at most 1 off: with 10 images the smallest class's 0.1 becomes 1 and the largest's 4 becomes 3
    assert all(abs(c - n * size / 1000) <= 1 for c, size in zip(counts, sizes, strict=True)), counts


def test_sample_gives_every_class_one_image_while_n_allows():
    data = sorted_by_class([990] + [1] * 9)
    assert torch.bincount(data.sample(10).labels, minlength=10).tolist() == [1] * 10
    assert torch.bincount(data.sample(12).labels, minlength=10).tolist() == [3] + [1] * 9
    assert data.sample(3).labels.tolist() == [0, 0, 0]  # fewer images than classes: by proportion alone


def test_sample_is_determined_by_its_seed():
    data = sorted_by_class([100] * 10)
    first = data.sample(50, seed=3).index
    torch.manual_seed(123)  # the global generator plays no part
    assert torch.equal(data.sample(50, seed=3).index, first)
    assert not torch.equal(data.sample(50, seed=4).index, first)


def test_sample_of_n_at_least_the_dataset_is_all_of_it():
    data = sorted_by_class([7, 5, 3])
    for n in (None, 15, 100):
        every = data.sample(n)
        assert torch.equal(every.index, torch.arange(15)) and torch.equal(every.images, data.images)


def test_a_subset_of_a_subset_knows_its_images_places_in_the_dataset_as_loaded():
    data = sorted_by_class([100] * 10)
    assert data.index is None and torch.equal(data.positions(), torch.arange(1000))
    two = data.of_classes([2, 7])
    assert torch.equal(two.index, torch.cat([torch.arange(200, 300), torch.arange(700, 800)]))
    sample = two.sample(20, seed=1)
    assert torch.bincount(sample.labels, minlength=10).tolist() == [0, 0, 10, 0, 0, 0, 0, 10, 0, 0]
    assert torch.equal(sample.images, data.images[sample.index])
    first = sample.take(5)
    assert torch.equal(first.index, sample.index[:5]) and torch.equal(first.images, data.images[first.index])
    assert torch.equal(sample.to("cpu").index, sample.index)
    # the first 300 images are classes 0 to 2: the same draw as from a dataset of those alone
    assert torch.equal(data.take(300).sample(30).index, sorted_by_class([100] * 3).sample(30).index)


def test_sample_of_mnist_keeps_its_class_balance(mnist_test):
    sample = mnist_test.sample(1000, seed=0)
    shares = torch.bincount(mnist_test.labels, minlength=10) * 1000 / len(mnist_test)
    assert (torch.bincount(sample.labels, minlength=10) - shares).abs().max() < 1
    assert torch.equal(sample.images, mnist_test.images[sample.index])


def test_a_streamed_folder_samples_the_images_the_in_memory_one_does(tmp_path, monkeypatch):
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    make_folder(tmp_path)
    held, streamed = load_dataset("shapes", "train"), load_dataset("shapes", "train", stream=True)
    for n, seed in ((4, 0), (5, 2), (None, 0)):
        assert torch.equal(streamed.sample(n, seed).index, held.sample(n, seed).index)
    sample = streamed.sample(4, seed=1)
    assert torch.bincount(sample.labels).tolist() == [2, 2]
    assert sample.files == [streamed.files[i] for i in sample.index]
