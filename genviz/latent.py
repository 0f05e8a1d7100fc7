"""Latent-space tools: encoding a dataset, 2-D maps and their inverse, directions and traversals."""

import re
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

import numpy as np
import torch

from genviz.data import to_float
from genviz.export import EXPORT_LOCK
from genviz.files import atomic_path
from genviz.models.base import GenerativeModel, Model, principal_directions

__all__ = ["principal_directions"]  # re-exported: directions are latent-space tools too

Progress = Callable[[int, int], None]  # (done, total)
METHODS = ("umap", "pca")
UMAP_TRANSFORM_SEED = 42  # umap.UMAP's default transform_seed, which its inverse_transform draws from
# A latent of up to this many dimensions gets a slider for each; a wider one (a brought autoencoder's (4, 8, 8) is
# 256) gets none and is moved along its directions: hundreds of sliders, each moving the picture too little to see,
# would bury them. The app's sliders and a static site (genviz.site) alike.
MAX_SLIDERS = 64


@torch.no_grad()
def encode_images(
    model: GenerativeModel, images: torch.Tensor, batch_size: int = 500, progress: Progress | None = None
) -> torch.Tensor:
    """Images (N, C, H, W) in [0, 1] (uint8 read as 0 to 255) -> latents (N, latent_dim) float32 on the CPU."""
    out = []
    for start in range(0, len(images), batch_size):
        x = to_float(images[start : start + batch_size].to(model.device))
        out.append(model.encode(x).float().cpu())
        if progress:
            progress(min(start + batch_size, len(images)), len(images))
    return torch.cat(out)


@torch.no_grad()
def decode(model: GenerativeModel, z: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Latents (N, latent_dim) -> images (N, C, H, W) in [0, 1] on the CPU, in batches."""
    z = torch.as_tensor(z, dtype=torch.float32)
    return torch.cat([model.decode(z[i : i + batch_size].to(model.device)).cpu() for i in range(0, len(z), batch_size)])


@torch.no_grad()
def classify(classifier: Model, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Predicted classes (N,) of images (N, C, H, W) in [0, 1], on the CPU."""
    batches = (images[i : i + batch_size].to(classifier.device) for i in range(0, len(images), batch_size))
    return torch.cat([classifier(x).argmax(1).cpu() for x in batches])


def prior_latents(
    model: GenerativeModel,
    n: int,
    seed: int,
    temperature: float = 1.0,
    truncation: float | None = None,
    label: int | None = None,
) -> torch.Tensor:
    """n latents (n, latent_dim) on the CPU from the model's prior with a seed (`GenerativeModel.prior`); a
    conditional model's of the class `label`, else of classes drawn with the seed."""
    labels = None if label is None else torch.full((n,), int(label))
    return model.prior(n, torch.Generator().manual_seed(seed), temperature, truncation, labels).cpu()


def prior_noise(model: GenerativeModel, n: int, seed: int) -> torch.Tensor:
    """The standard normal draws (n, latent_dim) behind `prior_latents` for a seed: what the browser turns into
    latents for any temperature or truncation (`GenerativeModel.prior_from_noise`)."""
    return torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed))


def class_direction(z: torch.Tensor, labels: torch.Tensor, source: int, target: int) -> torch.Tensor:
    """Mean latent of class `target` minus that of class `source` (latent-space cartography), (D,)."""
    for c in (source, target):
        if not (labels == c).any():
            raise ValueError(f"no latents of class {c}")
    return z[labels == target].mean(0) - z[labels == source].mean(0)


def traversal(
    model: GenerativeModel, z: torch.Tensor, dim: int, steps: int = 7, sigmas: float = 3.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decodes of z with dimension `dim` set from -sigmas to +sigmas of its spread (its centre
    +- sigmas * std for an autoencoder). Returns the images (steps, C, H, W) and the values."""
    centre, std = model.latent_scale()
    values = centre[dim] + torch.linspace(-sigmas, sigmas, steps) * std[dim]
    zs = z.float().cpu().repeat(steps, 1)
    zs[:, dim] = values
    return decode(model, zs), values


INTERPOLATIONS = ("slerp", "linear")


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; for latents, White 2016) from a (D,) to b (D,) at
    fractions t (T,) -> (T, D): along the great circle between their directions, with their norms
    blended linearly, so that paths stay where a Gaussian prior puts its mass (near the shell of
    radius sqrt(D)), not through the low-density middle a straight line crosses."""
    a, b, t = a.double(), b.double(), t.double()[:, None]
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return torch.lerp(a, b, t).float()
    omega = torch.arccos(torch.clamp(torch.dot(a / na, b / nb), -1.0, 1.0))
    if omega < 1e-6:  # (anti-)parallel directions: the circle is undefined or any; the line is the limit
        return torch.lerp(a, b, t).float()
    direction = (torch.sin((1 - t) * omega) * a / na + torch.sin(t * omega) * b / nb) / torch.sin(omega)
    return (direction * torch.lerp(na, nb, t)).float()


def interpolate(
    a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "slerp", centre: torch.Tensor | None = None
) -> torch.Tensor:
    """`steps` latents (steps, D) from a to b inclusive, evenly spaced in the fraction. Slerp turns
    about `centre` (the prior's mean; an autoencoder's latent mean): its angles mean nothing about
    any other point. The ends are a and b exactly."""
    if method not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {method!r}; choose one of {', '.join(INTERPOLATIONS)}")
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, got {steps}")
    a, b = a.float().cpu(), b.float().cpu()
    t = torch.linspace(0, 1, steps)
    if method == "linear":
        path = torch.lerp(a, b, t[:, None])
    else:
        c = torch.zeros_like(a) if centre is None else centre.float().cpu()
        path = c + slerp(a - c, b - c, t)
    path[0], path[-1] = a, b
    return path


def interpolate_grid(
    corners: torch.Tensor, rows: int, cols: int, method: str = "slerp", centre: torch.Tensor | None = None
) -> torch.Tensor:
    """A rows x cols grid of latents (rows, cols, D) between four corners (4, D): top-left, top-right,
    bottom-left, bottom-right. Each row interpolates between the left and right edges, which
    interpolate down from the top corners to the bottom ones: bilinear for `linear`."""
    left = interpolate(corners[0], corners[2], rows, method, centre)
    right = interpolate(corners[1], corners[3], rows, method, centre)
    return torch.stack([interpolate(left[r], right[r], cols, method, centre) for r in range(rows)])


def parse_latent(text: str, latent_dim: int) -> torch.Tensor:
    """A pasted latent vector: numbers separated by commas or spaces, optionally in brackets."""
    parts = [p for p in re.split(r"[\s,]+", text.strip().strip("[]()")) if p]
    number = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|nan)", re.IGNORECASE)
    if not_numbers := [p for p in parts if not number.fullmatch(p)]:  # words are not counted as numbers
        shown = ", ".join(repr(p) for p in not_numbers[:3]) + (" ..." if len(not_numbers) > 3 else "")
        verb = "is not a number" if len(not_numbers) == 1 else "are not numbers"
        raise ValueError(f"the pasted text is not a list of numbers: {shown} {verb}")
    if len(parts) != latent_dim:
        raise ValueError(f"this model's latent has {latent_dim} numbers; the pasted text has {len(parts)}")
    values = torch.tensor([float(p) for p in parts])
    if not torch.isfinite(values).all():
        raise ValueError("the latent holds an infinite or NaN value")
    return values


def format_latent(z: torch.Tensor) -> str:
    return "[" + ", ".join(f"{v:.4f}" for v in z.tolist()) + "]"


@dataclass
class Projection:
    """A 2-D map of latents, and its way back: PCA's exact linear inverse, or UMAP's inverse_transform."""

    method: str  # "umap" or "pca"
    settings: dict  # n_neighbors, min_dist, seed for UMAP; empty for PCA
    latents: np.ndarray  # (N, D) float32, the mapped latents
    coords: np.ndarray  # (N, 2) float32
    labels: np.ndarray  # (N,) int64 class of each point; -1 where unknown
    state: dict[str, np.ndarray] = field(default_factory=dict)  # what the inverse needs

    def inverse(self, points: np.ndarray) -> np.ndarray:
        """2-D points (M, 2) -> latents (M, D). UMAP's inverse holds only inside the map's convex hull."""
        points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        if self.method == "pca":
            return (points @ self.state["components"] + self.state["mean"]).astype(np.float32)
        with EXPORT_LOCK:  # numba may compile: not while an export has replaced min and max
            return self._umap_inverse(points)

    def place(self, latents: torch.Tensor | np.ndarray) -> np.ndarray:
        """Latents (M, D) not in the map -> their 2-D positions (M, 2). PCA's is exact. For UMAP it is
        where UMAP's own transform starts: the mean of the map positions of each latent's
        n_neighbors nearest mapped latents, weighted by UMAP's fuzzy membership strengths; UMAP's
        further epochs, which need the whole fitted model, are skipped, so it is approximate."""
        z = np.asarray(latents, dtype=np.float32).reshape(-1, self.latents.shape[1])
        if self.method == "pca":
            return ((z - self.state["mean"]) @ self.state["components"].T).astype(np.float32)
        with EXPORT_LOCK:  # numba may compile: not while an export has replaced min and max
            return self._umap_place(z)

    def _umap_place(self, z: np.ndarray) -> np.ndarray:
        from scipy.spatial.distance import cdist
        from umap.umap_ import smooth_knn_dist

        k = min(int(self.settings["n_neighbors"]), len(self.latents))
        d = cdist(z, self.latents)
        index = np.argpartition(d, k - 1, axis=1)[:, :k]
        dists = np.take_along_axis(d, index, axis=1).astype(np.float32)
        order = np.argsort(dists, axis=1)
        index, dists = np.take_along_axis(index, order, axis=1), np.take_along_axis(dists, order, axis=1)
        # UMAP.transform's local connectivity for new points is its own (1) minus one.
        sigmas, rhos = smooth_knn_dist(dists, float(k), local_connectivity=0.0)
        weights = np.exp(-np.maximum(dists - rhos[:, None], 0) / sigmas[:, None])
        weights[weights.sum(1) == 0, 0] = 1.0  # all underflowed: the nearest neighbour alone
        weights /= weights.sum(1, keepdims=True)
        return np.einsum("mk,mkc->mc", weights, self.coords[index]).astype(np.float32)

    def inside(self, points: np.ndarray) -> np.ndarray:
        """Which points (M, 2) lie in the map's convex hull, where the inverse is defined, (M,) bool."""
        return self._triangulation[0].find_simplex(np.asarray(points, dtype=np.float64).reshape(-1, 2)) >= 0

    def interpolate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """2-D points (M, 2) -> the barycentric blend of the latents of the map triangle each falls in: (latents
        (M, D) float32, triangles (M, 3) int64, the three map points' indices, weights (M, 3) float32, summing to 1).
        The triangles are the map's Delaunay triangulation (`inside`'s), and each weight is the point's barycentric
        coordinate in its triangle (scipy's `transform`), so z = sum_i w_i z_i. Outside the convex hull: triangles
        -1, latents and weights NaN. Linear and instant, unlike `inverse`; what the browser computes for hover
        previews."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        triangulation = self._triangulation[0]
        simplex = triangulation.find_simplex(p)
        inside = simplex >= 0
        transform = triangulation.transform[simplex[inside]]  # (m, 3, 2): T^-1 (2, 2) then the last vertex (2,)
        b = np.einsum("mij,mj->mi", transform[:, :2], p[inside] - transform[:, 2])
        weights = np.full((len(p), 3), np.nan)
        weights[inside] = np.column_stack([b, 1 - b.sum(1)])
        triangles = np.full((len(p), 3), -1, dtype=np.int64)
        triangles[inside] = triangulation.simplices[simplex[inside]]
        latents = np.full((len(p), self.latents.shape[1]), np.nan, dtype=np.float32)
        corners = self.latents[triangles[inside]].astype(np.float64)  # (m, 3, D)
        latents[inside] = np.einsum("mk,mkd->md", weights[inside], corners)
        return latents, triangles, weights.astype(np.float32)

    @cached_property
    def _triangulation(self):
        """Delaunay triangulation of the map and its vertex adjacency (CSR), as UMAP's inverse_transform
        builds them, but once per map: UMAP rebuilds them on every call, seconds for 10,000 points."""
        from scipy.sparse import csr_matrix
        from scipy.spatial import Delaunay

        triangulation = Delaunay(self.coords, incremental=True, qhull_options="QJ")
        simplices, n = triangulation.simplices, len(self.coords)
        corners = simplices.shape[1]
        rows, cols = np.repeat(simplices, corners, axis=1).ravel(), np.tile(simplices, corners).ravel()
        adjacency = csr_matrix((np.ones(len(rows), dtype=np.int64), (rows, cols)), shape=(n, n))
        return triangulation, adjacency

    def _umap_inverse(self, points: np.ndarray) -> np.ndarray:
        """umap-learn 0.5's UMAP.inverse_transform, step for step, on this map's stored arrays, with
        its triangulation and its compiled epoch kept between calls: a click on a 10,000-point map
        costs well under a second, not UMAP's several. tests/test_latent.py checks it against UMAP's
        own, value for value."""
        from scipy.sparse import coo_matrix
        from sklearn.preprocessing import normalize
        from sklearn.utils import check_random_state
        from umap import distances
        from umap.umap_ import INT32_MAX, INT32_MIN, breadth_first_search, init_transform, make_epochs_per_sample

        triangulation, adjacency = self._triangulation
        n, dim = self.latents.shape
        rng_state = check_random_state(UMAP_TRANSFORM_SEED).randint(INT32_MIN, INT32_MAX, 3).astype(np.int64)
        # The data points around each query: breadth-first over the triangulation from its simplex.
        min_vertices = min(dim, n)
        starts = triangulation.simplices[triangulation.find_simplex(points)][:, 0]
        neighbourhoods = [breadth_first_search(adjacency, v, min_vertices=min_vertices) for v in starts]
        euclidean = distances.named_distances["euclidean"]
        dists = [
            np.array([euclidean(p, self.coords[j]) for j in hood])
            for p, hood in zip(points, neighbourhoods, strict=True)
        ]
        nearest = [np.argsort(d)[:min_vertices] for d in dists]
        rows = np.repeat(np.arange(len(points)), min_vertices)
        cols = np.concatenate([hood[k] for hood, k in zip(neighbourhoods, nearest, strict=True)])
        d = np.concatenate([dd[k] for dd, k in zip(dists, nearest, strict=True)])
        a, b = float(self.state["a"]), float(self.state["b"])
        graph = coo_matrix((1 / (1 + a * d ** (2 * b)), (rows, cols)), shape=(len(points), n))
        csr = normalize(graph.tocsr(), norm="l1")
        init = init_transform(
            csr.indices.reshape(len(points), min_vertices), csr.data.reshape(len(points), min_vertices), self.latents
        )
        # UMAP's own choice: a third of the fit's epochs where they were set (a large map's), else by size.
        fitted = self.settings.get("n_epochs")
        n_epochs = int(fitted // 3) if fitted else 100 if len(points) <= 10_000 else 30
        # UMAP's optimize_layout_inverse, whose epoch function it compiles anew on every call
        # (about half a second); compiled once here. Its defaults: gamma 1, learning rate 1 / 4,
        # 5 negative samples per positive one.
        embedding, alpha, initial_alpha = init, 0.25, 0.25
        epochs_per_sample = make_epochs_per_sample(graph.data, n_epochs)
        per_negative = epochs_per_sample / 5
        next_negative, next_sample = per_negative.copy(), epochs_per_sample.copy()
        metric = distances.named_distances_with_gradients["euclidean"]
        for epoch in range(n_epochs):
            _inverse_epoch()(
                epochs_per_sample, next_sample, graph.row, graph.col, embedding, self.latents, metric, (),
                graph.data, self.state["sigmas"], dim, alpha, False, epoch, next_negative, per_negative,
                rng_state, n, self.state["rhos"], 1.0,
            )  # fmt: skip
            alpha = initial_alpha * (1.0 - epoch / n_epochs)
        return embedding.astype(np.float32)

    def save(self, path: str | Path, points: bool = True) -> None:
        """Write the map as a plain .npz. points=False leaves out the latents and labels, which a caller keeps
        elsewhere once for several maps (genviz.explore's bundles) and hands back to `load`."""
        arrays = {"latents": self.latents, "labels": self.labels} if points else {}
        arrays |= {"coords": self.coords, **{f"state_{k}": v for k, v in self.state.items()}}
        meta = np.array([self.method, *(f"{k}={v}" for k, v in self.settings.items())])
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, meta=meta, **arrays)

    @classmethod
    def load(
        cls, path: str | Path, latents: np.ndarray | None = None, labels: np.ndarray | None = None
    ) -> "Projection":
        """Read a map written by `save`; ValueError for any file that is not one (never unpickles). A map saved
        without its points takes them here: latents (N, D) and labels (N,) of its N points."""
        try:
            with np.load(path, allow_pickle=False) as data:
                method, *pairs = data["meta"].tolist()
                settings = {k: _number(v) for k, v in (p.split("=", 1) for p in pairs)}
                state = {k.removeprefix("state_"): data[k] for k in data.files if k.startswith("state_")}
                coords = data["coords"]
                if "latents" in data.files:
                    latents, labels = data["latents"], data["labels"]
        except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path} is not a readable genviz map: {e}") from None
        if latents is None or labels is None:
            raise ValueError(f"{path} holds no latents; pass those of its points to Projection.load")
        if coords.shape != (len(latents), 2) or labels.shape != (len(latents),):
            raise ValueError(
                f"{path}: {coords.shape} coordinates for {len(latents)} latents and {labels.shape} labels; "
                "it is not the map of these points"
            )
        return cls(method, settings, latents, coords, labels, state)


@cache
def _inverse_epoch():
    """UMAP's inverse-transform epoch, compiled by numba once per process."""
    import numba
    from umap.layouts import _optimize_layout_inverse_single_epoch

    return numba.njit(_optimize_layout_inverse_single_epoch, fastmath=True, cache=True)


def _number(text: str) -> int | float:
    return int(text) if text.lstrip("-").isdigit() else float(text)


LARGE_MAP = 10_000  # above this many points UMAP runs fast rather than reproducibly; see `umap_options`
LARGE_MAP_EPOCHS = 100  # half of UMAP's 200 for large sets: within 0.001 of its trustworthiness on 70,000 MNIST


def umap_options(n: int, seed: int) -> dict:
    """How genviz fits UMAP to n points (benchmarks/map_speed.py measured the choices on 70,000 MNIST
    latents). Up to LARGE_MAP points: UMAP's defaults with the seed, so the map is the same on every
    run and machine. Beyond: no seed, which lets UMAP use every core (a seed makes it single-threaded),
    so the map is not bit-reproducible; a PCA start instead of the spectral one, whose eigensolver
    takes seconds on a large graph; LARGE_MAP_EPOCHS epochs instead of UMAP's 200."""
    if n <= LARGE_MAP:
        return {"random_state": seed, "n_jobs": 1}  # n_jobs=1 is what a seed implies; said so UMAP does not warn
    return {"n_jobs": -1, "init": "pca", "n_epochs": LARGE_MAP_EPOCHS}


def project(
    latents: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray | None = None,
    method: str = "umap",
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int = 0,
    progress: Progress | None = None,
) -> Projection:
    """Fit a 2-D map of latents (N, D). UMAP (McInnes et al. 2018) keeps neighbourhoods; PCA is
    linear and near-instant. `progress` gets UMAP's optimisation epochs. UMAP's settings follow
    `umap_options`: seeded up to LARGE_MAP points, parallel and unseeded beyond (the map's settings
    then hold n_epochs and no seed)."""
    z = np.ascontiguousarray(np.asarray(latents, dtype=np.float32))
    labels = np.full(len(z), -1) if labels is None else np.asarray(labels, dtype=np.int64)
    if method == "pca":
        mean = z.mean(0)
        _, _, vt = np.linalg.svd(z - mean, full_matrices=False)
        components = vt[:2]  # (2, D)
        coords = (z - mean) @ components.T
        return Projection("pca", {}, z, coords.astype(np.float32), labels, {"mean": mean, "components": components})
    if method != "umap":
        raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(METHODS)}")
    with EXPORT_LOCK:  # numba compiles: not while an export has replaced min and max
        import umap  # imported on first use: numba compiles on import, which costs seconds

        _cache_umap_compilation()
        options = umap_options(len(z), seed)
        reducer = umap.UMAP(
            n_neighbors=n_neighbors,
            min_dist=min_dist,
            tqdm_kwds={"disable": progress is None, "file": _TqdmProgress(progress), "bar_format": "{n}/{total}\n"},
            **options,
        )
        coords = reducer.fit_transform(z).astype(np.float32)
    state = {"sigmas": reducer._sigmas, "rhos": reducer._rhos, "a": np.float64(reducer._a), "b": np.float64(reducer._b)}
    settings = {"n_neighbors": n_neighbors, "min_dist": min_dist}
    settings |= {"seed": seed} if "random_state" in options else {"n_epochs": options["n_epochs"]}
    return Projection("umap", settings, z, coords, labels, state)


# numba cannot cache these two (they hold dynamic globals); asking would only print a warning per fit.
_UNCACHABLE = {"nn_descent", "nn_descent_internal"}


@cache
def _cache_umap_compilation() -> int:
    """Have numba keep what it compiles for umap-learn and pynndescent on disk, as `cache=True` does
    (numba's default place: a __pycache__ beside their sources, else the user's cache; NUMBA_CACHE_DIR
    overrides it). They compile about 60 functions on a first fit, 50 to 100 s of a cold process on a
    2-core machine, and mark few of them for caching; with this, a later process loads most of them in
    a second or two. Only pynndescent's NN-descent loop cannot be cached. Returns how many were enabled."""
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    enabled = 0
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] not in ("umap", "pynndescent"):
            continue
        for attribute, value in list(vars(module).items()):
            if isinstance(value, Dispatcher) and isinstance(value._cache, NullCache) and attribute not in _UNCACHABLE:
                try:
                    value.enable_caching()
                except RuntimeError:  # numba found nowhere writable to keep it: compiled per process, as before
                    continue
                enabled += 1
    return enabled


class _TqdmProgress:
    """A file for UMAP's tqdm bar, printed as 'n/total', that forwards the counts to a callback."""

    def __init__(self, progress: Progress | None):
        self.progress = progress

    def write(self, text: str) -> None:
        if self.progress and (match := re.search(r"(\d+)/(\d+)", text)):
            self.progress(int(match[1]), int(match[2]))

    def flush(self) -> None:
        pass


def click_grid(projection: Projection, size: int = 60) -> np.ndarray:
    """Points of a size x size grid over the map that lie where its inverse is defined, (M, 2):
    clickable targets for decoding the map where no data lies."""
    low, high = projection.coords.min(0), projection.coords.max(0)
    xs, ys = (np.linspace(low[i], high[i], size) for i in range(2))
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2).astype(np.float32)
    return grid[projection.inside(grid)]


def edit_latent(
    base: torch.Tensor,
    values: dict[int, float],
    directions: torch.Tensor,
    spreads: torch.Tensor,
    amounts: list[float],
    shift: torch.Tensor | None = None,
    along: float = 0.0,
) -> torch.Tensor:
    """The latent `base` (D,) as a set of sliders edits it: dimension d set to values[d], then amounts[k]
    spreads (standard deviations) along each principal direction (k, D), then `along` times `shift` (D,),
    a class direction. A new tensor; with no edits, a copy of `base`."""
    z = base.detach().float().cpu().clone()
    for d, value in values.items():
        z[d] = value
    for k, amount in enumerate(amounts):
        z += amount * spreads[k] * directions[k]
    if shift is not None and along:
        z += along * shift
    return z
