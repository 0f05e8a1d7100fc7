"""The static site against the app: how many bytes a site of the shipped models weighs, and how soon a reader with
a cold browser sees a model's map and its first live decode, on the site and in the Streamlit app, in one run.

Both start as a fresh install does: the shipped decoders are exported into an empty GENVIZ_CACHE_DIR first (as
`make run` does), the site is written from that cache and the app server reads it.

- size: `genviz.site.write_site` of the shipped mnist-vae and cifar10-vae and the brought mnist-pytorch-vae into a
  temp folder. Per model: decoder.onnx, map.safetensors, latent.safetensors and its whole folder (model.json too);
  shared: the page and its script, onnxruntime-web's WASM, the thumbnail tiles and site.json. Raw bytes, and
  bytes after gzip level 6 (zlib, as GitHub Pages and most CDNs and servers send them), file by file.
- speed: the site served by Python's `http.server` (no compression, no cache headers) on localhost under a
  sub-path (ROOT/sub/explore/), against one `streamlit run app.py` over the shipped checkpoints, started once per
  run (a warm server). Playwright drives Debian's Chromium, headless, a fresh browser context for every open (an
  empty HTTP cache and IndexedDB: a cold browser). For mnist-vae and cifar10-vae, from `page.goto` to
  - the map drawn: the map canvas's first full draw (its data-draws counter reaching 1), at
    `index.html#/map/<model>` on the site and `/map?model=<model>` in the app (the component's canvas, in its
    iframe);
  - the first live decode: the Latent sliders picture's first frame (the live canvas's data-frames reaching 1), at
    `#/sliders/<model>` and `/sliders?model=<model>`.
  One untimed open of each page and model comes first on both (the app's is its server's first open of that
  page, recorded apart), then --quick ? 2 : 5 timed rounds, site and app taking turns; medians, and site / app.

Run from the repo root (about 2 minutes on 2 cores; --quick about 1.5):

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks.site [--quick]

It prints markdown tables and writes JSON to benchmarks/results/site.json.
"""

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import streamlit
import torch

from genviz.site import DECODER_FILE, LATENT_FILE, MAP_FILE, WASM, write_site
from support.browser import CHROMIUM, FLAGS, free_port, serve
from support.machine import machine

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "site.json"
MODELS = ("mnist-vae", "cifar10-vae", "mnist-pytorch-vae")  # the site's, in its order
TIMED = ("mnist-vae", "cifar10-vae")
SUB_PATH = "sub/explore"  # where the site lies under the static server's root
TIMEOUT_MS = 300_000
# What is timed: the site's address, the app's, and the canvas whose counter reaching 1 ends the clock.
MEASURES = {
    "map": ("#/map/{model}", "/map?model={model}", "[data-testid=map-canvas]", "draws"),
    "live": ("#/sliders/{model}", "/sliders?model={model}", "canvas[data-testid=live-canvas]", "frames"),
}
LABELS = {"map": "the map drawn", "live": "the first live decode"}
# The canvas `selector`'s `counter` at 1 or more, in the page or (framed: the app) in one of its iframes.
DONE = """([selector, counter, framed]) => {
  const documents = framed ? [...document.querySelectorAll('iframe')].map(f => f.contentDocument) : [document];
  return documents.some(d => Number(d?.querySelector(selector)?.dataset[counter]) >= 1);
}"""


def gzipped(path: Path) -> tuple[int, int]:
    """The file's bytes, raw and after gzip level 6."""
    data = path.read_bytes()
    return len(data), len(gzip.compress(data, compresslevel=6))


def summed(paths) -> dict:
    """Raw and gzip bytes of files sent one by one."""
    sizes = [gzipped(p) for p in paths]
    return {"raw": sum(r for r, _ in sizes), "gzip": sum(g for _, g in sizes)}


def sizes(report) -> dict:
    """Per model and shared, raw and gzip bytes of the site `report` (genviz.site.SiteReport) describes."""
    out = report.out
    models = {}
    for slug in report.models:
        folder = out / "models" / slug
        files = {name: summed([folder / name]) for name in (DECODER_FILE, MAP_FILE, LATENT_FILE)}
        models[slug] = files | {"total": summed(sorted(folder.iterdir()))}
        assert models[slug]["total"]["raw"] == report.models[slug], f"{slug}: not the bytes write_site reports"
    shared = {
        "page and script": summed([out / "index.html", out / "site.js"]),
        "WASM runtime": summed([out / WASM]),
        "thumbnails": summed(sorted((out / "thumbnails").rglob("*.png"))),
        "site.json": summed([out / "site.json"]),
    }
    total = {
        k: sum(m["total"][k] for m in models.values()) + sum(s[k] for s in shared.values()) for k in ("raw", "gzip")
    }
    assert total["raw"] == report.total, "the site's files are not the bytes write_site reports"
    return {"models": models, "shared": shared, "total": total}


@contextmanager
def static_server(root: Path, timeout: float = 30):
    """`python -m http.server` serving the folder `root` on a free port; yields its URL once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(root)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url, start = f"http://127.0.0.1:{port}", time.perf_counter()
        while True:
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                if process.poll() is not None or time.perf_counter() - start > timeout:
                    raise RuntimeError(f"http.server did not start: exit code {process.poll()}") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def opened(browser, url: str, selector: str, counter: str, framed: bool) -> float:
    """Seconds from goto `url`, in a fresh context, to the canvas's counter at 1; a page that draws nothing in
    TIMEOUT_MS raises with its errors."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        start = time.perf_counter()
        page.goto(url, timeout=TIMEOUT_MS)
        try:
            page.wait_for_function(DONE, arg=[selector, counter, framed], polling=20, timeout=TIMEOUT_MS)
        except PlaywrightTimeout:
            raise RuntimeError(f"{url}: {selector} not drawn in {TIMEOUT_MS / 1000:.0f} s; errors: {errors}") from None
        return time.perf_counter() - start
    finally:
        context.close()


def measure(rounds: int) -> dict:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="genviz-site-bench-") as tmp, sync_playwright() as p:
        folder = Path(tmp)
        cache = folder / "cache"
        env = {**os.environ, "GENVIZ_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "genviz.export", "checkpoints"], cwd=ROOT, env=env, check=True,
                       capture_output=True)  # fmt: skip
        print(f"decoders exported in {time.perf_counter() - start:.0f} s", flush=True)
        os.environ["GENVIZ_CACHE_DIR"] = str(cache)  # write_site reads the decoders just exported
        start = time.perf_counter()
        report = write_site([ROOT / "checkpoints" / m for m in MODELS], folder / "root" / SUB_PATH, say=lambda _: None)
        written_s = time.perf_counter() - start
        result = {"sizes": sizes(report), "site_written_s": written_s}
        print(f"site written in {written_s:.1f} s", flush=True)

        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        app_env = {"GENVIZ_CACHE_DIR": str(cache)}
        with (
            static_server(folder / "root") as static,
            serve("genviz/app.py", app_env, timeout=300, log=folder / "app.log") as app,
        ):
            site = f"{static}/{SUB_PATH}/index.html"

            def both(model: str, key: str) -> tuple[float, float]:
                hash_, path, selector, counter = MEASURES[key]
                on_site = opened(browser, site + hash_.format(model=model), selector, counter, framed=False)
                in_app = opened(browser, app.url + path.format(model=model), selector, counter, framed=True)
                return on_site, in_app

            times = {m: {k: {"site_s": [], "app_s": []} for k in MEASURES} for m in TIMED}
            for model in TIMED:
                for key in MEASURES:
                    _, times[model][key]["app_first_s"] = both(model, key)
            for r in range(rounds):
                for model in TIMED:
                    for key in MEASURES:
                        on_site, in_app = both(model, key)
                        times[model][key]["site_s"].append(on_site)
                        times[model][key]["app_s"].append(in_app)
                print(f"round {r + 1} of {rounds} done", flush=True)
        result["chromium"] = browser.version
        browser.close()
    for model in TIMED:
        for row in times[model].values():
            row["site_median_s"] = statistics.median(row["site_s"])
            row["app_median_s"] = statistics.median(row["app_s"])
            row["site_over_app"] = row["site_median_s"] / row["app_median_s"]
    return result | {"speed": times}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.site", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 timed rounds instead of 5")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    if not Path(CHROMIUM).is_file():
        raise SystemExit(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    rounds = 2 if args.quick else 5
    result = measure(rounds)

    date = datetime.now(UTC).isoformat(timespec="seconds")
    info = machine(torch.device("cpu"))
    s = result["sizes"]
    print(f"\nSite of {', '.join(MODELS)}: bytes, raw and gzip -6 (each file on its own)\n")
    print("| what | raw bytes | gzip bytes |")
    print("| --- | ---: | ---: |")
    for slug, files in s["models"].items():
        for name, size in files.items():
            label = "all its files (model.json too)" if name == "total" else name
            print(f"| {slug}: {label} | {size['raw']:,} | {size['gzip']:,} |")
    for name, size in s["shared"].items():
        print(f"| shared: {name} | {size['raw']:,} | {size['gzip']:,} |")
    print(f"| the whole site | {s['total']['raw']:,} | {s['total']['gzip']:,} |")

    print(f"\nCold browser, from goto to the picture: medians of {rounds} fresh contexts, Chromium "
          f"{result['chromium']} headless, {info['cpu_count']} cores, {date}; the site from http.server on "
          f"localhost, the app's server warm\n")  # fmt: skip
    print("| model | from goto to | site s | app s | site / app | app, its server's first open s |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for model, rows in result["speed"].items():
        for key, r in rows.items():
            print(f"| {model} | {LABELS[key]} | {r['site_median_s']:.2f} | {r['app_median_s']:.2f} "
                  f"| {r['site_over_app']:.2f} | {r['app_first_s']:.2f} |")  # fmt: skip

    result = {"date": date, "machine": info, "streamlit": streamlit.__version__, "rounds": rounds,
              "sub_path": SUB_PATH, **result}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
