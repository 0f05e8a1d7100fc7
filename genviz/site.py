"""Share an exploration as a static site: the latent map, sliders, samples and paths of one or more models, decoded
in the reader's browser, served by any static file server (no Python, no genviz).

    genviz site CHECKPOINT [CHECKPOINT ...] --out DIR [--force]

writes the folder DIR (format 1; every path in it relative, so it works under any sub-path, and nothing in it
refers to another origin):

    index.html                    the explorer page (genviz/component/build/site.html)
    site.js                       the explorer's script (genviz/component/build/site.js)
    ort-wasm-simd-threaded.wasm   onnxruntime-web's WebAssembly runtime, one copy for all models
    site.json                     format, generator, when it was made, and the models in the order given:
                                  [{"name": slug, "folder": "models/<slug>/"}, ...]; slug: the checkpoint folder's name
    thumbnails/<name>/tile_000.png ...   the explore bundle's thumbnail tiles byte for byte, one copy per thumbnails
                                  folder (two MNIST models share one); <name>: the bundle's, e.g. mnist-test-5000-seed0
    models/<slug>/model.json      what the page shows of the model: kind, dataset and classes, image and latent size,
                                  captions, the map's settings, its thumbnails (null for prior samples), a card
                                  (first paragraph and facts), and each file's sha256 and bytes
    models/<slug>/decoder.onnx    the decoder the app sends the browser (genviz.export.cached_decoder)
    models/<slug>/map.safetensors the bundle's UMAP map as the app sends it (genviz.mapdata.map_blob), no tiles:
                                  coords (N, 2) float32, labels (N,) int16, latents (N, D) float32, numbers
                                  (N,) int32 (a test image's number in the test set; none for prior samples)
    models/<slug>/latent.safetensors   centre, spread (D,) float32 (model.latent_scale()); class_centre and
                                  class_spread (K, D) for a conditional model; the bundle's directions (k, D),
                                  spreads (k,) float32 and dimension_order (D,) int32

The data comes from each checkpoint's explore bundle (genviz.explore), built first where it is missing or stale and
the dataset can be read; `browser_model` makes a model's files in memory, for a site and for the notebook widget
(genviz.notebook). A reader's browser needs WebGL for the map and WebAssembly for decoding. The site does not
train, compute the Compare page's figures, draw anomaly ROC curves or prepare uploaded images: those need the server.

The site is written to a temp folder beside DIR and renamed into place (`genviz.files.replace_folder`): a failure
leaves DIR as it was. A DIR that holds files but no site.json is refused unless --force, so that no folder is wiped
by mistake; an earlier site is replaced.
"""

import argparse
import hashlib
import json
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import save as save_safetensors
from tqdm.auto import tqdm

from genviz import __version__
from genviz import latent as lt
from genviz.checkpoint import CheckpointError, load_model, model_card, read_config, read_metrics
from genviz.data import DatasetError
from genviz.explore import BundleError, BundleMissing, build_bundle, load_bundle
from genviz.export import ExportError, cached_decoder
from genviz.files import first_line, replace_folder
from genviz.mapdata import map_blob

FORMAT = 1
BUILD = Path(__file__).resolve().parent / "component" / "build"  # the component's committed build
PAGE_FILES = {"page": ("site.html", "index.html"), "script": ("site.js", "site.js")}  # what: (in BUILD, in the site)
WASM = "ort-wasm-simd-threaded.wasm"
SITE_FILE, MODEL_FILE = "site.json", "model.json"
DECODER_FILE, MAP_FILE, LATENT_FILE = "decoder.onnx", "map.safetensors", "latent.safetensors"
SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a folder name that is a plain relative URL as it is
VIEW_URL = "http://localhost:8000/"
MAX_FACT = 60  # characters of a text metric shown as a card fact; longer ones (notes) are the full card's


class SiteError(Exception):
    """A site that cannot be written; the message names the checkpoint (or the folder) and the problem."""


@dataclass(frozen=True)
class SiteReport:
    """What write_site wrote, in bytes."""

    out: Path
    models: dict[str, int]  # slug -> bytes of models/<slug>/ (model.json, decoder, map, latent files)
    points: dict[str, int]  # slug -> points on its map
    shared: dict[str, int]  # "page", "script", "wasm", "thumbnails", "site.json" -> bytes

    @property
    def total(self) -> int:
        return sum(self.models.values()) + sum(self.shared.values())


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"


def _shown(path: Path) -> str:
    """A path as a user would type it: relative to the current folder when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _record(data: bytes) -> dict:
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _problem(folder: Path, error: Exception) -> SiteError:
    """The error as one line naming the checkpoint (most of genviz's messages start with the file already)."""
    text = first_line(error)
    return SiteError(text if str(folder) in text else f"{folder}: {text}")


def _check_out(out: Path, folders: list[Path], force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise SiteError(f"{out}: is a file, not a folder for a site")
    if out.is_dir() and any(out.iterdir()) and not (out / SITE_FILE).is_file() and not force:
        raise SiteError(f"{out}: holds files and no {SITE_FILE} (not a site); choose an empty folder, or pass --force")
    here = out.resolve()
    for folder in folders:
        if folder.resolve().is_relative_to(here):
            raise SiteError(f"{out}: holds the checkpoint {folder}, which writing the site there would delete")


def _build_files() -> dict[str, Path]:
    """The page, script and runtime to copy: what -> path in BUILD; SiteError for one missing."""
    files = {what: BUILD / source for what, (source, _) in PAGE_FILES.items()} | {"wasm": BUILD / WASM}
    for path in files.values():
        if not path.is_file():
            raise SiteError(f"{_shown(path)} is missing: rebuild the component with `make component`")
    return files


def _bundle(folder: Path, say: Callable[[str], None]):
    """The checkpoint's explore bundle, built (with a progress bar) where it is missing or stale."""
    try:
        return load_bundle(folder)
    except BundleMissing:
        why = "it has none"
    except BundleError as e:
        why = first_line(e)
    say(f"{folder}: building its explore bundle ({why})")
    bar = tqdm(total=1, desc=folder.name, unit="step", leave=False, disable=None)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        return build_bundle(folder, progress=progress)
    except DatasetError as e:
        raise SiteError(
            f"{folder}: its explore bundle must be built ({why}) and its dataset cannot be read here "
            f"({first_line(e)}); build it where the dataset is, with `genviz explore {folder}`"
        ) from None
    finally:
        bar.close()


def _card(folder: Path, slug: str, config: dict, model) -> dict:
    """model.json's card: the first paragraph of the model card, and a few settings and every scalar metric."""
    metrics = read_metrics(folder)
    paragraphs = [p for p in model_card(config, metrics, name=slug).split("\n\n") if p.strip()]
    summary = next((" ".join(p.split()) for p in paragraphs if not p.startswith("#")), "")
    c, h, w = model.image_shape
    facts = [["image shape", f"{c}x{h}x{w}"], ["latent size", str(model.latent_dim)]]
    for key, value in metrics.items():
        if isinstance(value, float):
            facts.append([key, f"{value:.4g}"])
        elif isinstance(value, int) or isinstance(value, str) and len(value) <= MAX_FACT:
            facts.append([key, str(value)])  # a curve, a value per class or dimension, a note: left out
    return {"summary": summary, "facts": facts}


@dataclass(frozen=True)
class BrowserModel:
    """A model's files for the browser explorer, made in memory: what a site writes under models/<slug>/, and what
    the notebook widget (genviz.notebook) sends its front end as binary buffers."""

    info: dict  # model.json less "thumbnails" and "files": each host says where its tiles are and records its files
    files: dict[str, bytes]  # decoder.onnx, map.safetensors, latent.safetensors
    tiles: list[Path]  # the explore bundle's thumbnail tiles (PNG), in order; none for a map of prior samples
    thumbnails: dict | None  # those tiles' folder name, sha256s and layout (model.json's "layout")
    points: int  # points on the map

    def description(self, thumbnails_folder: str, tile_names: list[str]) -> dict:
        """model.json, its tiles under `thumbnails_folder` (relative to the page) as `tile_names`."""
        shown = None
        if self.thumbnails:
            shown = {"folder": thumbnails_folder, "tiles": tile_names, "layout": self.thumbnails["layout"]}
        info = dict(self.info)
        card = info.pop("card")
        files = {name: _record(data) for name, data in self.files.items()}
        return {**info, "thumbnails": shown, "card": card, "files": files}


def browser_model(folder, slug: str, model=None, say: Callable[[str], None] = print) -> BrowserModel:
    """The explorer's files of the checkpoint `folder`, named `slug`; `model`: the folder's model, already loaded
    (else loaded here on the CPU). Builds the explore bundle where it is missing or stale (a line through `say`)."""
    from genviz.models import REGISTRY, GenerativeModel

    folder = Path(folder)
    config = read_config(folder)
    family = REGISTRY[config["family"]].model
    if not issubclass(family, GenerativeModel):
        kind = family.__name__.lower()
        raise SiteError(
            f"{folder}: a {kind} has no latent space to explore; the explorer shows autoencoders, VAEs and GANs"
        )
    model = model if model is not None else load_model(folder, device="cpu")
    bundle = _bundle(folder, say)
    projection = bundle.map("umap")
    names = list(model.checkpoint.dataset.class_names)
    centre, spread = model.latent_scale()
    arrays = {
        "centre": centre.float().cpu().numpy(),  # (D,)
        "spread": spread.float().cpu().numpy(),  # (D,)
        "directions": bundle.directions.astype(np.float32),  # (k, D)
        "spreads": bundle.spreads.astype(np.float32),  # (k,)
        "dimension_order": bundle.dimension_order.astype(np.int32),  # (D,)
    }
    if model.conditional:  # each class's own centre and spread, as the Sample page draws a chosen class
        scales = [model.latent_scale(c) for c in range(len(names))]
        arrays["class_centre"] = np.stack([s[0].float().cpu().numpy() for s in scales])  # (K, D)
        arrays["class_spread"] = np.stack([s[1].float().cpu().numpy() for s in scales])  # (K, D)
    # Each point named as the app names it: a test image by its number in the test set, a prior sample by its own.
    numbering = [(0, "test image")] if bundle.positions is not None else [(0, "sample")]
    points = projection.coords, projection.labels, projection.latents
    files = {
        DECODER_FILE: cached_decoder(folder).read_bytes(),
        MAP_FILE: map_blob(*points, numbers=bundle.positions, numbering=numbering),
        LATENT_FILE: save_safetensors({k: np.ascontiguousarray(v) for k, v in arrays.items()}),
    }
    thumbnails = None
    if bundle.tiles:
        meta, layout = bundle.meta["thumbnails"], bundle.tile_layout
        thumbnails = {
            "name": meta["folder"],
            "shas": [t["sha256"] for t in meta["tiles"]],
            "layout": {"per_tile": layout["per_tile"], "columns": layout["columns"], "shape": layout["image_shape"]},
        }
    info = {
        "format": FORMAT,
        "name": slug,
        "kind": model.kind,
        "display_name": model.display_name,
        "dataset": model.checkpoint.dataset.name,
        "class_names": names,
        "image_shape": list(model.image_shape),
        "latent_dim": model.latent_dim,
        "conditional": model.conditional,
        "ignores_latent_length": model.ignores_latent_length,
        "exact_encoder": model.has_exact_encoder,
        "points": bundle.meta["kind"],
        "prior_name": model.prior_name,
        "directions_name": model.directions_name,
        "dimension_order_name": model.dimension_order_name,
        "max_sliders": lt.MAX_SLIDERS,
        "map": {"method": "umap", "settings": dict(projection.settings), "n": len(projection.labels)},
        "card": _card(folder, slug, config, model),
    }
    return BrowserModel(info, files, list(bundle.tiles), thumbnails, len(projection.labels))


def _write_model(folder: Path, slug: str, site: Path, thumbnails: dict[str, list[str]], say) -> tuple[int, int]:
    """Write models/<slug>/ into the site folder `site`, and the bundle's thumbnails once per thumbnails folder
    (`thumbnails`: name -> its tiles' sha256s, those written so far). Returns (bytes of models/<slug>/, points)."""
    made = browser_model(folder, slug, say=say)
    out = site / "models" / slug
    out.mkdir(parents=True)
    for name, data in made.files.items():
        (out / name).write_bytes(data)
    tiles = [f"tile_{t:03d}.png" for t in range(len(made.tiles))]
    if made.thumbnails:
        name, shas = made.thumbnails["name"], made.thumbnails["shas"]
        if name not in thumbnails:
            (site / "thumbnails" / name).mkdir(parents=True)
            for source, tile in zip(made.tiles, tiles, strict=True):
                shutil.copyfile(source, site / "thumbnails" / name / tile)
            thumbnails[name] = shas
        elif thumbnails[name] != shas:
            raise SiteError(
                f"{folder}: its thumbnails {name} differ from those of the same name of a model before it "
                f"(thumbnails folders of two datasets' versions?); rebuild its bundle with "
                f"`genviz explore --force {folder}`"
            )
    folder_name = f"thumbnails/{made.thumbnails['name']}/" if made.thumbnails else ""
    text = json.dumps(made.description(folder_name, tiles), indent=1, allow_nan=False) + "\n"
    (out / MODEL_FILE).write_text(text, encoding="utf-8")
    return sum(path.stat().st_size for path in out.iterdir()), made.points


def write_site(checkpoints: list, out, *, force: bool = False, say: Callable[[str], None] = print) -> SiteReport:
    """Write the static site of `checkpoints` (checkpoint folders, in the order the page lists them) to the folder
    `out` (see the module docstring), a line per model and a summary through `say`. Raises SiteError, naming the
    checkpoint or folder and the problem, and then leaves `out` as it was."""
    folders, out = [Path(c) for c in checkpoints], Path(out)
    if not folders:
        raise SiteError("no checkpoints given: name one or more checkpoint folders")
    slugs: dict[str, Path] = {}
    for folder in folders:
        slug = folder.resolve().name
        if slug in slugs:
            raise SiteError(f"{slugs[slug]} and {folder}: two checkpoints named {slug}; a site names models by folder")
        if not SLUG.fullmatch(slug):
            raise SiteError(f"{folder}: its name {slug!r} is not a plain folder name (letters, digits, . _ -); copy it")
        slugs[slug] = folder
    _check_out(out, folders, force)
    build = _build_files()

    out.resolve().parent.mkdir(parents=True, exist_ok=True)
    site = Path(tempfile.mkdtemp(dir=out.resolve().parent, prefix=f".{out.resolve().name}.site-"))
    try:
        models, points, thumbnails = {}, {}, {}
        for slug, folder in slugs.items():
            try:
                models[slug], points[slug] = _write_model(folder, slug, site, thumbnails, say)
            except (CheckpointError, BundleError, ExportError, ValueError) as e:
                raise _problem(folder, e) from None
            except OSError as e:
                raise SiteError(f"{folder}: {first_line(e)}") from None
            say(f"{slug}: {points[slug]:,} points, {_size(models[slug])}")
        try:
            for what, (_, name) in PAGE_FILES.items():
                shutil.copyfile(build[what], site / name)
            shutil.copyfile(build["wasm"], site / WASM)
            listed = [{"name": slug, "folder": f"models/{slug}/"} for slug in slugs]
            made = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            index = {"format": FORMAT, "generator": f"genviz {__version__}", "made": made, "models": listed}
            (site / SITE_FILE).write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
            thumbs = sum(p.stat().st_size for p in (site / "thumbnails").rglob("*.png")) if thumbnails else 0
            shared = {
                "page": (site / "index.html").stat().st_size,
                "script": (site / "site.js").stat().st_size,
                "wasm": (site / WASM).stat().st_size,
                "thumbnails": thumbs,
                SITE_FILE: (site / SITE_FILE).stat().st_size,
            }
            replace_folder(site, out)
        except OSError as e:
            raise SiteError(f"{out}: the site cannot be written ({first_line(e)})") from None
    finally:
        shutil.rmtree(site, ignore_errors=True)
    report = SiteReport(out, models, points, shared)
    say(
        f"{out}: {_size(report.total)} in all: {_size(sum(shared.values()))} shared (page and script "
        f"{_size(shared['page'] + shared['script'])}, WebAssembly runtime {_size(shared['wasm'])}, thumbnails "
        f"{_size(shared['thumbnails'])}) and {_size(sum(models.values()))} for {len(models)} model(s)"
    )
    say(f"View it with `python -m http.server -d {shlex.quote(str(out))}`, then open {VIEW_URL}")
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genviz site",
        description="Write a static site that explores the given models in the reader's browser.",
    )
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint folders, in the order the page lists")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write the site to")
    parser.add_argument("--force", action="store_true", help="replace --out even if it holds files that are no site")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        write_site(args.checkpoints, args.out, force=args.force)
    except SiteError as e:
        print(f"genviz.site: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
