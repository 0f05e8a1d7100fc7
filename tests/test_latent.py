"""genviz.latent on real trained models and real MNIST latents."""

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import umap

from genviz import latent as lt
from genviz.checkpoint import load_model
from genviz.explore import load_bundle
from genviz.export import EXPORT_LOCK
from genviz.models.base import truncate

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


@pytest.fixture(scope="module")
def vae(trained):
    return load_model(trained["vae"].out, "cpu")


@pytest.fixture(scope="module")
def encoded(vae, mnist_test):
    data = mnist_test.take(600)
    return lt.encode_images(vae, data.images), data.labels


@pytest.mark.slow
def test_encoding_reports_progress_and_matches_the_model(vae, mnist_test):
    seen = []
    z = lt.encode_images(vae, mnist_test.images[:120], batch_size=50, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(50, 120), (100, 120), (120, 120)]
    assert torch.allclose(z, vae.encode(mnist_test.float_images(slice(0, 120))), atol=1e-5)


@pytest.mark.slow
def test_pca_map_inverts_exactly_within_its_plane(encoded):
    z, labels = encoded
    projection = lt.project(z, labels, "pca")
    assert projection.coords.shape == (600, 2) and (projection.labels == labels.numpy()).all()
    back = projection.inverse(projection.coords[:5])
    # Back in latent space, then projected again: the same 2-D points.
    again = (back - projection.state["mean"]) @ projection.state["components"].T
    assert np.allclose(again, projection.coords[:5], atol=1e-4)


@pytest.mark.slow
def test_umap_map_saved_and_loaded_inverts_as_umap_itself_does(encoded, tmp_path):
    z, labels = encoded
    epochs = []
    projection = lt.project(z, labels, "umap", n_neighbors=10, progress=lambda d, t: epochs.append((d, t)))
    assert epochs[-1][0] == epochs[-1][1] > 0
    projection.save(tmp_path / "map.npz")
    loaded = lt.Projection.load(tmp_path / "map.npz")
    assert loaded.settings == {"n_neighbors": 10, "min_dist": 0.1, "seed": 0}
    assert np.array_equal(loaded.coords, projection.coords) and np.array_equal(loaded.labels, projection.labels)
    reference = umap.UMAP(n_neighbors=10, min_dist=0.1, random_state=0, n_jobs=1).fit(z.numpy())
    assert np.array_equal(reference.embedding_, projection.coords)
    spots = lt.click_grid(loaded, size=12)[::7]  # several, in different triangles
    assert len(spots) > 3
    assert loaded.inside(spots).all() and not loaded.inside(projection.coords.max(0) + 1).any()
    assert np.array_equal(loaded.inverse(spots), reference.inverse_transform(spots))
    assert np.array_equal(loaded.inverse(spots[:1]), reference.inverse_transform(spots[:1]))


def test_a_damaged_map_file_raises_rather_than_loading(tmp_path):
    (tmp_path / "map.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="not a readable genviz map"):
        lt.Projection.load(tmp_path / "map.npz")


@pytest.mark.slow
def test_prior_latents_follow_the_seed_and_truncation_bounds_them(vae):
    a, b = lt.prior_latents(vae, 50, seed=3), lt.prior_latents(vae, 50, seed=3)
    assert torch.equal(a, b) and not torch.equal(a, lt.prior_latents(vae, 50, seed=4))
    truncated = lt.prior_latents(vae, 500, seed=3, truncation=0.5)
    assert truncated.abs().max() <= 0.5 and truncated.std() > 0.2
    with pytest.raises(ValueError, match="positive"):
        lt.prior_latents(vae, 5, seed=0, truncation=0)
    # The browser gets the noise and computes the rest: the same latents for any control.
    noise = lt.prior_noise(vae, 50, seed=3)
    assert torch.equal(vae.prior_from_noise(noise), a)
    for setting in ({"temperature": 0.3}, {"truncation": 0.7}):
        assert torch.equal(vae.prior_from_noise(noise, **setting), lt.prior_latents(vae, 50, seed=3, **setting))


def test_truncation_draws_the_truncated_normal_keeping_each_draws_quantile():
    from scipy import stats

    eps = torch.randn(20_000, generator=torch.Generator().manual_seed(0))
    for t in (0.25, 1.0, 2.5):
        x = truncate(eps, t)
        assert x.abs().max() <= t and torch.equal(x.sign(), eps.sign())
        assert stats.kstest(x.numpy(), stats.truncnorm(-t, t).cdf).pvalue > 1e-3
    # Each entry moves towards 0 as the threshold falls, and far above the draws it changes nothing.
    assert (truncate(eps, 0.5).abs() <= truncate(eps, 1.0).abs()).all()
    assert torch.allclose(truncate(eps, 40.0), eps, atol=1e-6)


@pytest.mark.slow
def test_traversal_sets_one_dimension_from_minus_to_plus_three_sigma(vae):
    z = lt.prior_latents(vae, 1, seed=0)[0]
    images, values = lt.traversal(vae, z, dim=2, steps=5)
    assert images.shape == (5, 1, 28, 28)
    assert torch.allclose(values, torch.tensor([-3.0, -1.5, 0.0, 1.5, 3.0]))
    assert torch.allclose(images[2], lt.decode(vae, torch.cat([z[:2], torch.zeros(1), z[3:]])[None])[0], atol=1e-6)
    assert not torch.allclose(images[0], images[-1], atol=1e-3)


@pytest.mark.slow
def test_most_active_dimensions_come_first_for_a_vae(vae, mnist_test):
    images = mnist_test.float_images(slice(0, 500))
    variance = vae.posterior_variance(images)
    order = vae.dimension_order(lambda: images)
    assert sorted(order.tolist()) == list(range(vae.latent_dim))
    distance = variance.log().abs()[order]
    assert (distance[:-1] >= distance[1:]).all()


@pytest.mark.slow
def test_directions(encoded, trained):
    z, labels = encoded
    directions, spreads = lt.principal_directions(z, 3)
    assert torch.allclose(directions @ directions.T, torch.eye(3), atol=1e-5)
    assert (spreads[:-1] >= spreads[1:]).all()
    assert torch.allclose(spreads[0], ((z - z.mean(0)) @ directions[0]).std(), rtol=1e-4)
    step = lt.class_direction(z, labels, 1, 7)
    assert torch.allclose(z[labels == 1].mean(0) + step, z[labels == 7].mean(0), atol=1e-5)
    with pytest.raises(ValueError, match="no latents of class"):
        lt.class_direction(z, labels, 1, 11)
    gan = load_model(trained["gan"].out, "cpu")
    gan_dirs, gan_spreads = gan.directions(4, latents=None)  # GANSpace needs no data
    assert gan_dirs.shape == (4, gan.latent_dim) and torch.allclose(gan_dirs.norm(dim=1), torch.ones(4))
    # GANSpace as its paper does it, by sampling: PCA of 20,000 first-layer activations, regressed back
    # to z. The exact directions span the same space (close singular values let sampling noise mix
    # single directions a little), each with a spread of 1.
    with torch.no_grad():
        zs = gan.prior(20_000, torch.Generator().manual_seed(0))
        h = gan.generator[0](zs)
    centred = h - h.mean(0)
    coords = centred @ torch.linalg.svd(centred, full_matrices=False)[2][:4].T
    sampled = torch.linalg.lstsq(coords, zs - zs.mean(0)).solution
    unit = sampled / sampled.norm(dim=1, keepdim=True)
    inside = (unit @ gan_dirs.T).norm(dim=1)  # the length of each sampled direction within the exact span
    assert (inside > 0.95).all(), inside
    assert torch.nn.functional.cosine_similarity(unit, gan_dirs)[0].abs() > 0.98
    assert torch.allclose(coords.std(0) * sampled.norm(dim=1), gan_spreads, rtol=0.03)


def test_pasted_latents_are_parsed_or_refused_with_a_reason():
    z = torch.tensor([0.5, -1.25, 3.0])
    assert torch.allclose(lt.parse_latent(lt.format_latent(z), 3), z)
    assert torch.allclose(lt.parse_latent("0.5 -1.25\n3", 3), z)
    with pytest.raises(ValueError, match="has 3 numbers; the pasted text has 2"):
        lt.parse_latent("1, 2", 3)
    with pytest.raises(ValueError, match="'x' is not a number"):
        lt.parse_latent("1, x, 2", 3)
    with pytest.raises(ValueError, match="not a list of numbers: 'hello', 'world' are not numbers"):
        lt.parse_latent("hello world", 2)  # words are not counted as if they were numbers
    with pytest.raises(ValueError, match="infinite or NaN"):
        lt.parse_latent("1, nan, 2", 3)


@pytest.mark.slow
def test_interpolations_start_and_end_on_their_endpoints(vae, encoded):
    z = encoded[0]
    for method in lt.INTERPOLATIONS:
        path = lt.interpolate(z[0], z[1], 9, method)
        assert path.shape == (9, vae.latent_dim)
        assert torch.equal(path[0], z[0]) and torch.equal(path[-1], z[1])
        decodes = lt.decode(vae, path[[0, -1]])
        assert torch.equal(decodes, lt.decode(vae, z[:2]))
    with pytest.raises(ValueError, match="at least 2"):
        lt.interpolate(z[0], z[1], 1)
    with pytest.raises(ValueError, match="unknown interpolation"):
        lt.interpolate(z[0], z[1], 4, "cubic")


def test_slerp_keeps_to_the_sphere_where_a_line_cuts_inside():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 64, generator=g)
    b = b * a.norm() / b.norm()  # same norm: slerp stays on that sphere all the way
    arc, line = lt.interpolate(a, b, 11, "slerp"), lt.interpolate(a, b, 11, "linear")
    assert torch.allclose(arc.norm(dim=1), a.norm().expand(11), rtol=1e-5)
    assert line.norm(dim=1)[5] < 0.8 * a.norm()  # near-orthogonal Gaussian vectors: the midpoint shrinks by ~1/sqrt(2)
    # Equal angles between consecutive steps: a constant-speed arc.
    cos = torch.nn.functional.cosine_similarity(arc[:-1], arc[1:])
    assert torch.allclose(cos, cos[0].expand(10), atol=1e-5)
    # Slerp turns about the centre it is given: shifted endpoints give the same path, shifted.
    centre = torch.full((64,), 3.0)
    assert torch.allclose(lt.interpolate(a + centre, b + centre, 11, "slerp", centre), arc + centre, atol=1e-5)


def test_a_grid_between_four_corners_is_bilinear_and_has_them_at_its_corners():
    corners = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    grid = lt.interpolate_grid(corners, 3, 5, "linear")
    assert grid.shape == (3, 5, 2)
    assert torch.equal(grid[0, 0], corners[0]) and torch.equal(grid[0, -1], corners[1])
    assert torch.equal(grid[-1, 0], corners[2]) and torch.equal(grid[-1, -1], corners[3])
    assert torch.allclose(grid[1, 2], torch.tensor([0.5, 0.5]))  # the centre of the square
    assert torch.allclose(grid[:, :, 0], torch.linspace(0, 1, 5).expand(3, 5))


@pytest.mark.slow
def test_new_latents_land_among_their_neighbours_on_the_map(encoded):
    z, labels = encoded
    pca = lt.project(z, labels, "pca")
    assert np.allclose(pca.place(z[:5]), pca.coords[:5], atol=1e-4)
    projection = lt.project(z[:500], labels[:500], "umap", n_neighbors=10)
    placed = projection.place(z[500:])
    assert placed.shape == (100, 2) and np.isfinite(placed).all()
    # Each held-out latent lands nearer its own class's points than the typical distance between points.
    own = [np.linalg.norm(projection.coords[projection.labels == c] - p, axis=1).min()
           for p, c in zip(placed, labels[500:].numpy(), strict=True)]  # fmt: skip
    spread = np.linalg.norm(projection.coords - projection.coords.mean(0), axis=1).mean()
    assert np.median(own) < 0.1 * spread


@pytest.mark.slow
def test_a_large_map_is_fitted_in_parallel_and_inverts_as_its_own_umap_does(encoded, monkeypatch):
    z, labels = encoded
    monkeypatch.setattr(lt, "LARGE_MAP", 400)  # 600 points: the large-map path, on a small set
    fitted = []

    class Recorded(umap.UMAP):  # the very fit project makes, to compare its inverse with UMAP's own
        def fit(self, *args, **kwargs):
            fitted.append(self)
            return super().fit(*args, **kwargs)

    monkeypatch.setattr(umap, "UMAP", Recorded)
    projection = lt.project(z, labels, "umap", n_neighbors=10)
    assert projection.settings == {"n_neighbors": 10, "min_dist": 0.1, "n_epochs": lt.LARGE_MAP_EPOCHS}
    (reducer,) = fitted
    assert reducer.random_state is None and reducer.init == "pca" and reducer.n_epochs == lt.LARGE_MAP_EPOCHS
    assert np.array_equal(reducer.embedding_, projection.coords) and projection.coords.shape == (600, 2)
    spots = lt.click_grid(projection, size=12)[::7]
    assert len(spots) > 3
    assert np.array_equal(projection.inverse(spots), reducer.inverse_transform(spots))
    assert lt._cache_umap_compilation() > 0  # numba keeps umap-learn's compiled functions on disk


def test_umap_work_waits_while_an_onnx_export_has_replaced_min_and_max():
    """torch's ONNX export replaces Python's min and max, process-wide, while it traces; numba compiling umap-learn's
    or pynndescent's code in another thread meanwhile fails ("Untyped global name 'min'"), as a served app's start-up
    thread once did while a page exported its decoder. The map's inverse, placing and fitting wait for the export's
    lock, and run once it is released."""
    projection = load_bundle(CHECKPOINTS / "mnist-vae").map("umap")
    z = projection.latents[:60]
    calls = {
        "inverse": lambda: projection.inverse(projection.coords[:1]),
        "place": lambda: projection.place(z[:2]),
        "project": lambda: lt.project(torch.from_numpy(z), torch.zeros(60, dtype=torch.long), "umap", n_neighbors=5),
    }
    for name, call in calls.items():
        call()  # compiled once, so that it is quick once it may run
        done = threading.Event()
        with EXPORT_LOCK:  # as genviz.export holds it through torch.onnx.export
            worker = threading.Thread(target=lambda call=call: (call(), done.set()))
            worker.start()
            assert not done.wait(1.0), f"{name} ran while an export held the lock"
        assert done.wait(120), f"{name} did not run once the lock was released"
        worker.join()
