"""Explore bundles (genviz.explore): what they hold equals what the app computes from the dataset, every broken or
foreign bundle is refused with its file and the fix, a checkpoint folder copied on its own finds its thumbnails (in
the cache by digest, or in its bundle after --embed), and the barycentric map interpolation the browser mirrors."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genviz import explore, load_model
from genviz import latent as lt
from genviz.checkpoint import fingerprint
from genviz.data import load_dataset
from genviz.explore import BundleError, BundleMissing, build_bundle, bundle_dir, ensure_bundles, load_bundle
from genviz.metrics import anomaly_scores
from genviz.training.train import main as train_main
from genviz.training.train import write_bundle
from support.runs import train_args

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
N = 200
REBUILD = "genviz explore"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A folder of checkpoints (copies of mnist-vae and mnist-ae) with mnist-vae's bundle of N points built, and
    the thumbnails it shares."""
    root = tmp_path_factory.mktemp("bundles")
    for name in ("mnist-vae", "mnist-ae"):
        shutil.copytree(CHECKPOINTS / name, root / name, ignore=shutil.ignore_patterns("explore"))
    with pytest.MonkeyPatch.context() as patch:  # its load after the build caches the tiles: not in the user's cache
        patch.setenv("GENVIZ_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        build_bundle(root / "mnist-vae", n=N, device="cpu")
    return root


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache of this test's own (where load_bundle keeps the thumbnail tiles it reads beside a bundle)."""
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "thumbnails"


@pytest.fixture
def root(built, tmp_path) -> Path:
    """A copy of `built` of this test's own, to damage."""
    shutil.copytree(built, tmp_path / "checkpoints")
    return tmp_path / "checkpoints"


def alone(checkpoint: Path, tmp_path: Path) -> Path:
    """A copy of the checkpoint folder on its own, as `cp -r` makes it: no thumbnails folder beside it."""
    return shutil.copytree(checkpoint, tmp_path / "elsewhere" / checkpoint.name)


@pytest.fixture(scope="module")
def sample():
    return load_dataset("mnist", "test").sample(N)


def rewrite_meta(folder: Path, change) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    change(meta)
    (folder / "meta.json").write_text(json.dumps(meta))


def record(folder: Path, name: str):
    """meta.json's record of file `name` made to match the file as it now is (so that only later checks see it)."""

    def change(meta):
        data = (folder / name).read_bytes()
        meta["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

    rewrite_meta(folder, change)


def refused(checkpoint: Path, *words: str, kind=BundleError) -> str:
    with pytest.raises(kind) as caught:
        load_bundle(checkpoint)
    message = str(caught.value)
    assert REBUILD in message and str(checkpoint) in message, message
    for word in words:
        assert word in message, message
    return message


def test_a_bundle_holds_what_the_app_computes_from_the_dataset(built, sample):
    bundle = load_bundle(built / "mnist-vae")
    model = load_model(built / "mnist-vae", "cpu")
    assert bundle.folder == bundle_dir(built / "mnist-vae") and bundle.fingerprint == fingerprint(built / "mnist-vae")
    assert bundle.dataset == "mnist" and bundle.class_names == [str(i) for i in range(10)]
    # The points: the stratified sample of the test set, encoded.
    assert np.array_equal(bundle.positions, sample.positions().numpy())
    assert np.array_equal(bundle.labels, sample.labels.numpy()) and bundle.labels.dtype == np.int64
    assert bundle.latents.dtype == np.float32 and bundle.latents.shape == (N, 16)
    np.testing.assert_allclose(bundle.latents, lt.encode_images(model, sample.images).numpy(), atol=1e-5)
    # The images, from the PNG tiles, are the dataset's pixels exactly.
    images = bundle.images()
    assert images.dtype == torch.uint8 and torch.equal(images, sample.images)
    tiles = bundle.atlas_tiles()
    assert len(tiles) == 1 and tiles[0] == (built / "thumbnails" / "mnist-test-200-seed0" / "tile-000.png").read_bytes()
    assert bundle.tile_layout == {
        "per_tile": 1000,
        "columns": 40,
        "image_shape": [1, 28, 28],
        "count": N,
        "tiles": [[40 * 28, 5 * 28]],
    }
    # Directions and the dimension order from 2,000 test images, as ui/resources.py has them.
    direction_sample = load_dataset("mnist", "test").sample(2000)
    directions, spreads = model.directions(6, lambda: lt.encode_images(model, direction_sample.images))
    np.testing.assert_allclose(bundle.directions, directions.numpy(), atol=1e-5)
    np.testing.assert_allclose(bundle.spreads, spreads.numpy(), rtol=1e-5)
    order = model.dimension_order(lambda: direction_sample.images.float() / 255)
    assert np.array_equal(bundle.dimension_order, order.numpy())
    # Anomaly scores of the N test images, one array per score kind, as ui/scores.py's _scored.
    assert set(bundle.scores) == {"reconstruction", "elbo"}
    for kind, scores in bundle.scores.items():
        np.testing.assert_allclose(scores, anomaly_scores(model, sample.images, kind).numpy(), rtol=1e-5, atol=1e-6)
    # The PCA map, whose latents are the bundle's own (stored once).
    pca, expected = bundle.map("pca"), lt.project(bundle.latents, bundle.labels, "pca")
    assert pca.latents is bundle.latents and pca.labels is bundle.labels and pca.method == "pca"
    np.testing.assert_allclose(pca.coords, expected.coords, atol=1e-5)
    np.testing.assert_allclose(pca.inverse(pca.coords[:5]), expected.inverse(expected.coords[:5]), atol=1e-5)
    assert bundle.map("umap").settings == {"n_neighbors": 15, "min_dist": 0.1, "seed": 0}


@pytest.mark.slow
def test_the_umap_map_is_the_one_the_app_computes(built):
    bundle = load_bundle(built / "mnist-vae")
    expected = lt.project(bundle.latents, bundle.labels, "umap", 15, 0.1)
    umap_map = bundle.map("umap")
    assert umap_map.latents is bundle.latents
    np.testing.assert_array_equal(umap_map.coords, expected.coords)
    for key, value in expected.state.items():
        np.testing.assert_array_equal(umap_map.state[key], value)


def test_latents_are_stored_once(built):
    folder = bundle_dir(built / "mnist-vae")
    for name in ("map-umap.npz", "map-pca.npz"):
        with np.load(folder / name, allow_pickle=False) as data:
            assert "latents" not in data.files and data["coords"].shape == (N, 2)
    assert (built / "thumbnails" / "mnist-test-200-seed0" / "index.json").is_file()
    assert not (built / "mnist-vae" / "explore" / "tile-000.png").exists()  # thumbnails live once per dataset


def test_a_second_run_only_checks(built, capsys):
    folder = bundle_dir(built / "mnist-vae")
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert ensure_bundles([built / "mnist-vae"]) == 0
    assert "bundle ok" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_a_checkpoint_without_a_bundle_has_none(root):
    with pytest.raises(BundleMissing) as caught:
        load_bundle(root / "mnist-ae")
    assert REBUILD in str(caught.value)


def test_a_truncated_file_is_refused(root):
    path = bundle_dir(root / "mnist-vae") / "points.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    refused(root / "mnist-vae", str(path), "truncated")


def test_a_tampered_file_is_refused(root):
    path = bundle_dir(root / "mnist-vae") / "derived.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # same size, one bit changed in the last score
    path.write_bytes(bytes(data))
    refused(root / "mnist-vae", str(path), "sha256")


def test_a_tampered_thumbnail_tile_is_refused(root):
    path = root / "thumbnails" / "mnist-test-200-seed0" / "tile-000.png"
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    path.write_bytes(bytes(data))
    refused(root / "mnist-vae", str(path), "sha256")


def test_the_bundle_of_another_checkpoint_is_refused(root):
    shutil.copytree(bundle_dir(root / "mnist-vae"), bundle_dir(root / "mnist-ae"))
    refused(root / "mnist-ae", "other weights", fingerprint(root / "mnist-ae"), "meta.json")


def test_new_weights_make_the_bundle_stale(root):
    weights = root / "mnist-vae" / "model.safetensors"
    weights.write_bytes(weights.read_bytes())  # rewritten, the same bytes: still its bundle
    assert load_bundle(root / "mnist-vae").fingerprint == fingerprint(root / "mnist-vae")
    shutil.copy(root / "mnist-ae" / "model.safetensors", weights)  # retrained, say
    refused(root / "mnist-vae", "other weights")


def test_a_thumbnail_tile_of_the_wrong_size_is_refused(root):
    folder = root / "thumbnails" / "mnist-test-200-seed0"
    Image.new("L", (40 * 28, 4 * 28)).save(folder / "tile-000.png")  # a row short

    def change(meta):
        data = (folder / "tile-000.png").read_bytes()
        meta["thumbnails"]["tiles"][0]["sha256"] = hashlib.sha256(data).hexdigest()

    rewrite_meta(bundle_dir(root / "mnist-vae"), change)  # its hash recorded: only its size is wrong
    refused(root / "mnist-vae", "tile-000.png", "1120x112", "1120x140")


# A checkpoint folder copied on its own


def test_a_copy_alone_finds_its_thumbnails_in_the_cache_by_digest(root, tmp_path, cache):
    in_place = load_bundle(root / "mnist-vae")  # the shared copy beside it, as shipped: its tiles are cached
    assert in_place.thumbnails_place == "shared"
    digest = in_place.meta["thumbnails"]["tiles"][0]["sha256"]
    assert sorted(p.name for p in cache.iterdir()) == [f"{digest}.png"]
    assert (cache / f"{digest}.png").read_bytes() == in_place.tiles[0].read_bytes()
    copy = load_bundle(alone(root / "mnist-vae", tmp_path))
    assert copy.thumbnails_place == "cache" and copy.tiles == [cache / f"{digest}.png"]
    assert torch.equal(copy.images(), in_place.images()) and copy.atlas_tiles() == in_place.atlas_tiles()


def test_a_copy_alone_without_its_thumbnails_anywhere_says_where_it_looked_and_what_to_do(root, tmp_path, cache):
    copy = alone(root / "mnist-vae", tmp_path)
    message = refused(copy, "mnist-test-200-seed0", "missing", "--embed", str(copy / "explore" / "thumbnails"))
    assert str(tmp_path / "elsewhere" / "thumbnails" / "mnist-test-200-seed0") in message and str(cache) in message


def test_a_damaged_tile_in_the_cache_is_named_and_removed(root, tmp_path, cache):
    load_bundle(root / "mnist-vae")
    (tile,) = cache.iterdir()
    tile.write_bytes(tile.read_bytes()[:-1])
    copy = alone(root / "mnist-vae", tmp_path)
    refused(copy, str(tile), "damaged", "--embed")
    assert not tile.exists()
    refused(copy, "missing")  # and then looked for as any missing tile


def test_embed_copies_the_thumbnails_into_the_bundle_and_the_copy_explores_on_its_own(root, tmp_path, cache, capsys):
    shared = root / "thumbnails" / "mnist-test-200-seed0" / "tile-000.png"
    before = shared.read_bytes()
    assert explore.main(["--embed", str(root / "mnist-vae")]) == 0
    assert "thumbnails copied into it" in capsys.readouterr().out
    own = bundle_dir(root / "mnist-vae") / "thumbnails" / "tile-000.png"
    assert own.read_bytes() == before == shared.read_bytes()
    assert explore.main(["--embed", str(root / "mnist-vae")]) == 0  # a second run only checks
    assert "bundle ok; holds its thumbnails" in capsys.readouterr().out
    shutil.rmtree(cache, ignore_errors=True)
    copy = load_bundle(alone(root / "mnist-vae", tmp_path))  # nothing beside it, nothing cached
    assert copy.thumbnails_place == "own" and copy.tiles == [bundle_dir(copy.checkpoint) / "thumbnails" / own.name]
    assert torch.equal(copy.images(), load_bundle(root / "mnist-vae").images())
    assert not cache.exists()  # a bundle that holds its tiles is not copied to the cache


def test_a_tampered_tile_in_the_bundles_own_copy_is_refused(root, tmp_path):
    assert explore.main(["--embed", str(root / "mnist-vae")]) == 0
    path = bundle_dir(root / "mnist-vae") / "thumbnails" / "tile-000.png"
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    path.write_bytes(bytes(data))
    refused(root / "mnist-vae", str(path), "sha256")  # not passed over for the good copy beside it


def test_embed_without_the_thumbnails_or_the_dataset_is_a_failure(root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path / "no-data"))
    copy = alone(root / "mnist-vae", tmp_path)
    assert explore.main(["--embed", str(copy)]) == 1
    assert "dataset cannot be read" in capsys.readouterr().out
    assert not (bundle_dir(copy) / "thumbnails").exists()


def test_embed_on_prior_samples_has_nothing_to_copy(tmp_path, capsys):
    gan = shutil.copytree(CHECKPOINTS / "mnist-gan", tmp_path / "mnist-gan")
    assert explore.main(["--embed", str(gan)]) == 0
    assert "no thumbnails to hold (prior samples)" in capsys.readouterr().out
    assert sorted(p.name for p in bundle_dir(gan).iterdir()) == sorted(
        p.name for p in bundle_dir(CHECKPOINTS / "mnist-gan").iterdir()
    )


@pytest.mark.slow
def test_a_rebuilt_bundle_keeps_holding_its_thumbnails(root, capsys):
    assert explore.main(["--embed", str(root / "mnist-vae")]) == 0
    assert ensure_bundles([root / "mnist-vae"], n=N, force=True) == 0
    assert "bundle built" in capsys.readouterr().out
    found = load_bundle(root / "mnist-vae")
    assert found.thumbnails_place == "own" and len(found.tiles) == 1
    assert found.tiles[0].read_bytes() == (root / "thumbnails" / "mnist-test-200-seed0" / "tile-000.png").read_bytes()


class Payload:
    """Unpickling this would create the marker file: the test's proof that nothing was unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_an_npz_with_an_object_array_is_refused_without_unpickling(root, tmp_path):
    folder = bundle_dir(root / "mnist-vae")
    marker = tmp_path / "unpickled"
    path = folder / "map-umap.npz"
    with open(path, "wb") as f:
        np.savez(f, meta=np.array(["umap", "n_neighbors=15"]), coords=np.array([Payload(marker)], dtype=object))
    record(folder, "map-umap.npz")
    bundle = load_bundle(root / "mnist-vae")  # the file's hash is right; its contents are read on use
    with pytest.raises(BundleError) as caught:
        bundle.map("umap")
    assert str(path) in str(caught.value) and REBUILD in str(caught.value) and "pickle" in str(caught.value)
    assert not marker.exists()


def test_a_safetensors_file_of_other_shapes_is_refused(root):
    import safetensors.numpy

    folder = bundle_dir(root / "mnist-vae")
    path = folder / "points.safetensors"
    points = safetensors.numpy.load(path.read_bytes())
    points["latents"] = points["latents"][:, :8].copy()
    path.write_bytes(safetensors.numpy.save(points))
    record(folder, "points.safetensors")
    refused(root / "mnist-vae", str(path), "latents", "(200, 16)")


def test_a_meta_json_that_is_not_json_is_refused(root):
    path = bundle_dir(root / "mnist-vae") / "meta.json"
    path.write_text('{"format": 1, "fingerprint": ')
    refused(root / "mnist-vae", str(path), "not valid JSON")


def test_a_meta_json_pointing_outside_the_thumbnails_is_refused(root):
    folder = bundle_dir(root / "mnist-vae")
    rewrite_meta(folder, lambda meta: meta["thumbnails"].update(folder="../../etc"))
    refused(root / "mnist-vae", "meta.json", "plain folder name")


def test_a_bundle_of_another_format_is_refused(root):
    rewrite_meta(bundle_dir(root / "mnist-vae"), lambda meta: meta.update(format=99))
    refused(root / "mnist-vae", "meta.json", "format 99")


def test_a_missing_dataset_is_said_and_the_others_go_on(root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path / "no-data"))
    shutil.copytree(CHECKPOINTS / "mnist-classifier", root / "mnist-classifier")
    assert explore.main([str(root)]) == 0  # not a failure: nothing is broken, the data is elsewhere
    out = capsys.readouterr().out.splitlines()
    assert any("mnist-ae" in line and "dataset cannot be read" in line for line in out), out
    assert any("mnist-classifier" in line and "skipped" in line for line in out), out
    assert any("mnist-vae" in line and "bundle ok" in line for line in out), out


def test_a_broken_checkpoint_is_a_failure(root, capsys):
    (root / "mnist-ae" / "config.json").write_text("{")
    assert explore.main([str(root)]) == 1
    assert "mnist-ae: cannot be read" in capsys.readouterr().out


def test_the_training_hook_warns_and_keeps_the_checkpoint_when_the_bundle_cannot_be_built(
    root, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path / "no-data"))
    before = {p.name: p.read_bytes() for p in (root / "mnist-ae").iterdir()}
    assert write_bundle(root / "mnist-ae", "cpu") == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning:") and f"{REBUILD} {root / 'mnist-ae'}" in err[0], err
    assert {p.name: p.read_bytes() for p in (root / "mnist-ae").iterdir()} == before


@pytest.mark.slow
def test_broken_bundles_are_rebuilt_and_thumbnails_shared(root, capsys):
    path = bundle_dir(root / "mnist-vae") / "points.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    tile = root / "thumbnails" / "mnist-test-200-seed0" / "tile-000.png"
    tile_time = tile.stat().st_mtime_ns
    assert ensure_bundles([root], n=N) == 0
    out = capsys.readouterr().out
    assert "mnist-vae: bundle built" in out and "truncated" in out and "mnist-ae: bundle built" in out
    assert load_bundle(root / "mnist-vae").positions is not None and load_bundle(root / "mnist-ae").images() is not None
    assert tile.stat().st_mtime_ns == tile_time  # both bundles use the thumbnails already there
    assert sorted(p.name for p in (root / "thumbnails").iterdir()) == ["mnist-test-200-seed0"]


@pytest.mark.slow
def test_a_gan_bundle_holds_prior_samples_labelled_by_the_classifier(tmp_path):
    for name in ("mnist-gan", "mnist-classifier"):
        shutil.copytree(CHECKPOINTS / name, tmp_path / name, ignore=shutil.ignore_patterns("explore"))
    bundle = build_bundle(tmp_path / "mnist-gan", n=N, device="cpu")
    model, classifier = load_model(tmp_path / "mnist-gan", "cpu"), load_model(tmp_path / "mnist-classifier", "cpu")
    z = lt.prior_latents(model, N, seed=0)
    np.testing.assert_array_equal(bundle.latents, z.numpy())
    np.testing.assert_array_equal(bundle.labels, lt.classify(classifier, lt.decode(model, z)).numpy())
    assert bundle.positions is None and bundle.images() is None and bundle.atlas_tiles() == []
    assert bundle.scores == {} and bundle.tile_layout == {}
    directions, spreads = model.directions(6)
    np.testing.assert_allclose(bundle.directions, directions.numpy(), atol=1e-6)
    assert not (tmp_path / "thumbnails").exists()


@pytest.mark.slow
def test_a_finished_training_run_writes_its_bundle(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(explore, "bundle_points", lambda shape: N)  # the default 5,000 would take longer
    argv = [a for a in train_args(tmp_path / "mnist-ae", tmp_path / "run", "ae", 1) if a != "--no-bundle"]
    assert train_main(argv) == 0
    assert "explore bundle written" in capsys.readouterr().out
    bundle = load_bundle(tmp_path / "mnist-ae")
    assert len(bundle.latents) == N and bundle.latents.shape[1] == 8
    assert json.loads((tmp_path / "mnist-ae" / "config.json").read_text())["training"]["command"].find("bundle") < 0


# Projection.interpolate and the points-less map files


def test_interpolate_is_the_barycentric_blend_of_the_enclosing_triangle():
    # Point 3 makes the hull a triangle around point 0, which then joins every corner: the only triangulation.
    coords = np.array([[0, 0], [2, 0], [0, 2], [-2, -2]], dtype=np.float32)
    latents = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 4], [9, 9, 9]], dtype=np.float32)
    projection = lt.Projection("pca", {}, latents, coords, np.zeros(4, dtype=np.int64))
    z, triangles, weights = projection.interpolate(np.array([[0.5, 0.5], [2, 2], [0, 0]]))
    order = np.argsort(triangles[0])  # the triangle's corners in scipy's order
    np.testing.assert_array_equal(triangles[0][order], [0, 1, 2])
    np.testing.assert_allclose(weights[0][order], [0.5, 0.25, 0.25], atol=1e-6)
    np.testing.assert_allclose(z[0], [0.5, 0.25, 1.0], atol=1e-6)  # 0.5 z0 + 0.25 z1 + 0.25 z2
    assert np.isnan(z[1]).all() and (triangles[1] == -1).all() and np.isnan(weights[1]).all()
    np.testing.assert_allclose(z[2], latents[0], atol=1e-6)  # a map point itself: its own latent
    assert z.dtype == weights.dtype == np.float32 and triangles.dtype == np.int64


def test_interpolate_on_a_random_map():
    rng = np.random.default_rng(0)
    coords, latents = rng.normal(size=(300, 2)).astype(np.float32), rng.normal(size=(300, 5)).astype(np.float32)
    projection = lt.Projection("umap", {}, latents, coords, np.full(300, -1))
    points = rng.uniform(-4, 4, size=(1000, 2))
    z, triangles, weights = projection.interpolate(points)
    inside = triangles[:, 0] >= 0
    np.testing.assert_array_equal(inside, projection.inside(points))
    assert 100 < inside.sum() < 1000
    w, t = weights[inside].astype(np.float64), triangles[inside]
    assert (w >= -1e-6).all() and np.allclose(w.sum(1), 1, atol=1e-6)
    np.testing.assert_allclose(np.einsum("mk,mkc->mc", w, coords[t]), points[inside], atol=1e-5)  # barycentric
    np.testing.assert_allclose(z[inside], np.einsum("mk,mkd->md", w, latents[t]), atol=1e-5)
    assert np.isnan(z[~inside]).all() and (triangles[~inside] == -1).all()


def test_a_map_saved_without_its_points_takes_them_back(tmp_path):
    rng = np.random.default_rng(1)
    latents, labels = rng.normal(size=(50, 4)).astype(np.float32), rng.integers(0, 3, 50)
    projection = lt.project(latents, labels, "pca")
    projection.save(tmp_path / "full.npz")
    projection.save(tmp_path / "bare.npz", points=False)
    full = lt.Projection.load(tmp_path / "full.npz")  # as ui/maps.py's cache reads it
    assert np.array_equal(full.latents, latents) and np.array_equal(full.labels, labels)
    bare = lt.Projection.load(tmp_path / "bare.npz", latents, labels)
    assert bare.latents is latents and np.array_equal(bare.coords, projection.coords)
    assert (tmp_path / "bare.npz").stat().st_size < (tmp_path / "full.npz").stat().st_size
    with pytest.raises(ValueError, match="holds no latents"):
        lt.Projection.load(tmp_path / "bare.npz")
    with pytest.raises(ValueError, match="not the map of these points"):
        lt.Projection.load(tmp_path / "bare.npz", latents[:10], labels[:10])


def test_bundle_points_by_channels():
    assert explore.bundle_points((1, 28, 28)) == 5000 and explore.bundle_points((3, 32, 32)) == 2000
