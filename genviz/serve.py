"""`python -m genviz.serve [--prepare] [SCRIPT] [options]`: `streamlit run SCRIPT [options]` (SCRIPT: genviz's app,
`genviz/app.py`, unless given), the server answering at once. `genviz serve` starts the app through it.

As soon as the server's runtime exists (Streamlit's caches belong to it), a thread imports `ui`, and with it
torch, genviz and plotly, then loads the model the app opens on into the app's cache and decodes a batch with
it, so that torch's kernels are ready: a browser's first page waits only for what the thread has not finished
while the page loaded. torch's OpenMP threads sleep between operations instead of spinning
(OMP_WAIT_POLICY=PASSIVE, unless set otherwise).

With `--prepare` (what `genviz serve` passes), a few seconds after a first page has run (app.py says so), or once
no browser has come for NO_PAGE_S, that thread starts a process at the lowest CPU priority that exports the
decoders of the listed checkpoints (`ui.CHECKPOINTS`) for the browser (`genviz.export`, the app's default model
first) and checks their explore bundles, building those missing or stale (`genviz.explore`); after a first
page, it warms UMAP's inverse. Nothing a user did not ask for holds up the start or the first page: a page that
needs a decoder before it is exported exports it itself, with a spinner.

`python -m genviz.serve --prepare-only FOLDER [FOLDER ...]` is that background process; it ends with its parent
server."""

import atexit
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from genviz.folders import checkpoint_roots

APP = Path(__file__).resolve().parent / "app.py"  # the Streamlit script of genviz's app
PREPARE = "--prepare"
PREPARE_ONLY = "--prepare-only"
# Exported first: the model the app opens on (ui.picker.default_index), whose live pages a new user opens first.
DEFAULT_FIRST = "mnist-vae"
AFTER_FIRST_PAGE_S = 3  # from a first page's run to the background work: its last messages and pictures sent
NO_PAGE_S = 15  # without a first page by then, the background preparation starts anyway


def _warm_first_page() -> str | None:
    """The imports and the first decode of the page a browser opens first (the home page's 64 samples); the
    folder of the model the app opens on, if any."""
    from streamlit import runtime

    while not runtime.exists():  # `ui` declares Streamlit caches, which need the server's runtime
        time.sleep(0.01)
    # `ui` first, and alone: it imports torch, genviz and plotly. A page's run imports `ui` first too, so the two
    # threads meet at that one module's lock, never each inside a different part of a circular import.
    from genviz import ui

    if (path := ui.picker.default_checkpoint()) is None:
        return None
    from genviz import CheckpointError
    from genviz import latent as lt
    from genviz.pictures import grid

    try:
        model = ui.resources.preload_model(path)  # the model the page's ui.cached_model(path) then finds loaded
        grid(lt.decode(model, lt.prior_latents(model, 64, 0)))
    except (CheckpointError, OSError, RuntimeError):  # the page that opens it says why
        return None
    return path


def _start_up(prepare_roots: list[Path] | None) -> None:
    """The first page warmed; with --prepare, the background preparation started once a first page has run and
    its pictures have had time to reach the browser (or no browser has come for a while), and UMAP's inverse
    warmed on the default model's map after a first page."""
    try:
        path = _warm_first_page()
    except Exception as e:  # warming is a head start only: the pages load what they need, and --prepare goes on
        print(f"genviz: warming the first page failed ({type(e).__name__}: {e}); pages load what they need", flush=True)
        path = None
    if prepare_roots is None:
        return
    from genviz import ui

    if ui.resources.FIRST_PAGE_RAN.wait(timeout=NO_PAGE_S):
        time.sleep(AFTER_FIRST_PAGE_S)
    _prepare_in_background(prepare_roots)
    ui.resources.FIRST_PAGE_RAN.wait()
    if path:
        warm_map_inverse(path)


def warm_map_inverse(path: str) -> bool:
    """Run UMAP's inverse once on the UMAP map of the folder's explore bundle, read as the Latent map page reads
    it, so that numba has loaded or compiled what the page's first inverse would: about 5 s of CPU in a fresh
    process on two cores, which a first click on a map's empty space would otherwise wait for. False when the
    bundle is missing or unusable (the map page then computes its map, and UMAP with it)."""
    from genviz.checkpoint import CheckpointError
    from genviz.explore import BundleError, load_bundle

    try:
        projection = load_bundle(path).map("umap")
    except (BundleError, CheckpointError, OSError):
        return False
    projection.inverse(projection.coords[:1])  # (1, 2): a point of the map, inside it
    return True


def _prepare_in_background(roots: list[Path]) -> None:
    """Start the lowest-priority process that exports decoders and checks bundles; it ends with this server."""
    child = subprocess.Popen([sys.executable, "-m", "genviz.serve", PREPARE_ONLY, *map(str, roots)])
    atexit.register(lambda: child.poll() is None and child.terminate())


def prepare(roots: list[Path], parent: int) -> None:
    """What --prepare does in the background, at the lowest CPU priority and one torch thread: the decoders
    exported for the browser (the app's default model first) and the explore bundles checked (built where
    missing or stale and the dataset is there). Says what it did beyond checking; stops when `parent` ends."""
    os.nice(19)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwinds, so no half-written temp file is left
    import torch

    from genviz.explore import ensure_bundles
    from genviz.export import export_folders
    from genviz.folders import checkpoint_folders

    torch.set_num_threads(1)
    start = time.perf_counter()
    exported = 0
    for name, what in export_folders(roots, first=DEFAULT_FIRST):
        if os.getppid() != parent:
            return
        exported += what == "exported"
        if what not in ("exported", "already cached") and "no latent space" not in what:  # a classifier has none
            print(f"genviz: the decoder of {name} is {what}", flush=True)

    def say(line: str) -> None:
        if not line.endswith(": bundle ok") and ": skipped, " not in line:
            print(f"genviz: {line}", flush=True)

    for folder in checkpoint_folders(roots):
        if os.getppid() != parent:
            return
        ensure_bundles([folder], say=say)
    print(
        f"genviz: the decoders of {', '.join(map(str, roots))} are ready for the browser ({exported} exported) and "
        f"their explore bundles checked, in the background in {time.perf_counter() - start:.0f} s",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    # torch's OpenMP threads sleep between parallel regions instead of spinning for the next one: a page's small
    # decodes then take a fifth of the CPU, and on a busy two-core machine they finish sooner too (docs/index.md).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == [PREPARE_ONLY]:
        prepare([Path(a) for a in args[1:]], os.getppid())
        return 0
    prepare_roots = None
    if PREPARE in args:
        args.remove(PREPARE)
        prepare_roots = [p.resolve() for p in checkpoint_roots()]  # what the picker lists
    if not args or args[0].startswith("-"):
        args.insert(0, str(APP))
    threading.Thread(target=_start_up, args=(prepare_roots,), name="genviz-start-up", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", *args]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
