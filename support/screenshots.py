"""`make screenshots`: the docs' pictures of the app (docs/images/*.png), taken from the real app on the shipped
checkpoints in Chromium, so that they show what the app draws today. The README's two pictures are among them.

`python -m support.screenshots [--out DIR] [NAME ...]` takes every shot, or those named (`map`, `sliders`, ...),
into DIR (default docs/images)."""

import argparse
import sys
from pathlib import Path

from support.browser import CHROMIUM, FLAGS, ROOT, missing_browser, serve, settled

OUT = ROOT / "docs" / "images"
WIDTH, HEIGHT = 1400, 900  # a laptop's window: the first screen a user sees
# name -> (address, model, heading, pictures): each app page on the model that shows it best, and whether it
# draws pictures (the Compare page has a table and charts only).
SHOTS = {
    "home": ("", "mnist-vae", "genviz", True),
    "map": ("map", "mnist-vae", "Latent map", True),
    "sample": ("sample", "cifar10-vae", "Sample", True),
    "sliders": ("sliders", "cifar10-vae", "Latent sliders", True),
    "interpolate": ("interpolate", "mnist-vae", "Interpolate", True),
    "reconstruct": ("reconstruct", "mnist-vae", "Reconstruct and denoise", True),
    "anomaly": ("anomaly", "mnist-vae", "Anomaly detection", True),
    "compare": ("compare", "cifar10-vae", "Compare models", False),
}
# A picture in the main area painted: an st.image loaded, or a canvas of the browser component (in its frame, of
# this origin) that has drawn a frame or its map's points.
PAINTED = """() => {
  const main = document.querySelector('[data-testid=stMain]');
  const image = [...main.querySelectorAll('[data-testid=stImage] img')].some((i) => i.complete && i.naturalWidth);
  const canvas = [...main.querySelectorAll('iframe')].some((f) => {
    try {
      const drawn = (c) => Number(c.dataset.frames || 0) > 0 || c.dataset.points;
      return [...f.contentDocument.querySelectorAll('canvas')].some(drawn);
    } catch { return false; }
  });
  return image || canvas;
}"""


def shoot(page, url: str, name: str, out: Path) -> Path:
    """One page opened afresh at WIDTH x HEIGHT, at rest with its pictures painted, as out/<name>.png."""
    address, model, heading, pictures = SHOTS[name]
    page.goto(f"{url}/{address}?model={model}")
    page.get_by_role("heading", name=heading, exact=True).wait_for()
    settled(page)
    if pictures:
        page.wait_for_function(PAINTED, polling=100)
    page.wait_for_timeout(2000)  # the components' frames draw after the run: the map's WebGL points, live decodes
    settled(page)
    path = out / f"{name}.png"
    page.screenshot(path=path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description="Take the docs' pictures (docs/images/*.png) from the running app.")
    parser.add_argument("names", nargs="*", help=f"the shots to take, of {', '.join(SHOTS)} (default: all)")
    parser.add_argument("--out", type=Path, default=OUT, help="the folder the PNG files go to")
    args = parser.parse_args()
    if unknown := [n for n in args.names if n not in SHOTS]:
        parser.error(f"no shot named {', '.join(unknown)}; the shots are {', '.join(SHOTS)}")
    if problem := missing_browser():
        print(f"screenshots: {problem}", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with serve("genviz/app.py") as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.set_default_timeout(600_000)  # a page's first open may encode or score the test set
        for name in args.names or SHOTS:
            path = shoot(page, server.url, name, args.out)
            print(f"{path} ({path.stat().st_size / 1000:.0f} KB)", flush=True)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
