"""Decoding in the browser against decoding on the server, in a real browser: what a person sees while the hand
drags, for the shipped mnist-vae, mnist-gan and cifar10-vae.

Two `streamlit run app.py` servers over the shipped checkpoints: the app as it ships (genviz's component decodes
in the page with onnxruntime-web) and the stock baseline (GENVIZ_BROWSER_DECODE=0: Streamlit's sliders, decoded
on the server). Playwright drives Debian's Chromium, headless.

- drag: on the Latent sliders page, the first dimension slider goes from its minimum to its maximum in --seconds.
  In the component a script sets it and sends an input event every 1/60 s, then a change event; the component
  marks each input event ("genviz:input", the event's timestamp) and each painted frame ("genviz:paint", after
  the frame that shows it, with the newest input it shows), and each input's latency is to the first frame
  painted that shows it or a later input. In the baseline Streamlit's slider is dragged with the mouse (a move
  per 60 Hz frame) and let go, timed by a probe on the "decoded" image: the pictures painted while the button
  was down (none: Streamlit sends a slider's value on release) and from the release to the new picture painted.
- grid: the same drag on the Sample page's 12 x 12 grid's temperature (144 latents decoded a frame).
- crowd: --sessions browser contexts at once on each server, each pressing its own slider's arrow keys every
  --interval ms for --crowd-seconds, against one session alone doing the same; each press timed from the key to
  the decode painted; and the server's CPU time meanwhile.
- bytes: what a fresh browser downloads for the page: the component's files over HTTP, and the websocket's bytes
  up to the first live frame of each model (its decoder travels there); then both again on a later visit in the
  same browser, where its store (IndexedDB) holds the runtime's WASM and the decoder.

Run from the repo root (the shipped decoders are exported first if the cache lacks them):

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks.live_decode

It prints markdown tables and writes JSON to benchmarks/results/live_decode.json.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from contextlib import AsyncExitStack, ExitStack
from datetime import datetime, timezone
from pathlib import Path

from playwright.async_api import TimeoutError as PlaywrightTimeout

from benchmarks.load import cpu_seconds
from support.browser import CHROMIUM, serve
from support.probes import IDLE, percentile
from support.users import LOAD_FLAGS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "live_decode.json"
MODELS = ("mnist-vae", "mnist-gan", "cifar10-vae")
FRAME = "iframe[title*=genviz_decoder_canvas]"
GOAL_FPS, GOAL_MEDIAN_MS, GOAL_P95_MS = 30, 16, 33

# The baseline's probe: every "decoded" (or Sample grid) picture painted, and the mouse's down and up times.
PAINTS = """
(() => {
  window.__paints = [];
  window.__pointer = {};
  addEventListener('pointerdown', (e) => { window.__pointer.down = e.timeStamp; }, { capture: true });
  addEventListener('pointerup', (e) => { window.__pointer.up = e.timeStamp; }, { capture: true });
  const seen = new WeakMap();
  new MutationObserver(() => {
    for (const img of document.querySelectorAll('[data-testid=stMain] [data-testid=stImage] img')) {
      if (!img.src || seen.get(img) === img.src) continue;
      seen.set(img, img.src);
      img.decode().catch(() => {}).then(() => requestAnimationFrame(() => {
        const channel = new MessageChannel();
        channel.port1.onmessage = () => window.__paints.push(performance.now());
        channel.port2.postMessage(null);
      }));
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['src'] });
})();
"""
# In the component's frame (evaluated on an element of it): its marks since `since` (ms, the frame's time base).
MARKS = """(_, since) => ({
  inputs: performance.getEntriesByName('genviz:input').map((m) => m.startTime).filter((t) => t >= since),
  paints: performance.getEntriesByName('genviz:paint').filter((m) => m.detail.input >= since)
    .map((m) => [m.startTime, m.detail.input]),
  now: performance.now(),
})"""


def live_latencies(inputs: list[float], paints: list[list[float]]) -> list[float]:
    """Each input's time to the first paint showing it or a newer input; inputs never painted are left out."""
    out = []
    for t in inputs:
        shown = [painted for painted, newest in paints if newest >= t]
        if shown:
            out.append(min(shown) - t)
    return out


def stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "median_ms": statistics.median(values), "p95_ms": percentile(values, 95),
            "max_ms": max(values)}  # fmt: skip


async def settle(page) -> None:
    await page.wait_for_selector(IDLE, state="attached")
    if await page.get_by_test_id("stException").count():
        raise SystemExit(f"the page failed: {await page.get_by_test_id('stException').first.inner_text()}")


async def live_frame(page):
    """The component's frame, once its canvas has drawn and the page shows it."""
    canvas = page.frame_locator(FRAME).locator("canvas[data-testid^=live-]").first
    await canvas.wait_for()
    await canvas.evaluate("""(c) => new Promise((resolve) => {
      const check = () => (Number(c.dataset.frames || 0) > 0 ? resolve() : setTimeout(check, 20));
      check();
    })""")
    await page.wait_for_function(
        f"() => [...document.querySelectorAll('{FRAME}')].some((f) => f.getBoundingClientRect().height > 50)"
    )
    await settle(page)
    return canvas


# In the component's frame: the scripted drag of a range input from its minimum to its maximum in `seconds`, an
# input event every 1/60 s (a timer, not an animation frame: like a pointer's moves, each is handled before the
# next frame is drawn), then its change event.
DRAG = """(slider, seconds) => new Promise((resolve) => {
  const low = Number(slider.min), high = Number(slider.max), start = performance.now();
  let i = 0;
  const step = () => {
    const f = Math.min(1, ++i / (60 * seconds));
    slider.value = String(low + f * (high - low));
    slider.dispatchEvent(new Event('input', { bubbles: true }));
    if (f < 1) setTimeout(step, Math.max(0, start + (i * 1000) / 60 - performance.now()));
    else { slider.dispatchEvent(new Event('change', { bubbles: true })); resolve(performance.now() - start); }
  };
  setTimeout(step, 0);
})"""


async def mouse_drag(page, slider, seconds: float) -> None:
    """Drag `slider` with the mouse from its left end to its right end in about `seconds`, a move per 60 Hz
    frame (each move waits for the browser's acknowledgement, so a busy browser stretches the drag)."""
    box = await slider.bounding_box()
    y = box["y"] + box["height"] / 2
    await page.mouse.move(box["x"] + 2, y)
    moves = max(2, round(seconds * 60))
    await page.mouse.down()
    start = time.perf_counter()
    for i in range(1, moves + 1):
        await page.mouse.move(box["x"] + 2 + (box["width"] - 4) * i / moves, y)
        await asyncio.sleep(max(0.0, start + i / 60 - time.perf_counter()))
    await page.mouse.up()


async def drag_live(context, url: str, path: str, model: str, seconds: float) -> dict:
    """The drag on the live page: input events, frames painted, and each input's latency to its frame."""
    page = await context.new_page()
    await page.goto(f"{url}/{path}&model={model}" if "?" in path else f"{url}/{path}?model={model}")
    canvas = await live_frame(page)
    since = (await canvas.evaluate(MARKS, 0))["now"]
    span = await page.frame_locator(FRAME).get_by_role("slider").first.evaluate(DRAG, seconds)
    await asyncio.sleep(1.0)  # the last frames
    marks = await canvas.evaluate(MARKS, since)
    await page.close()
    inputs, paints = marks["inputs"], marks["paints"]
    during = [p for p, _ in paints if p <= inputs[-1]] if inputs else []
    return {
        "inputs": len(inputs),
        "frames": len(paints),
        "frames_during_drag": len(during),
        "fps": 1000 * len(during) / span,
        "event_to_paint": stats(live_latencies(inputs, paints)),
        "drag_ms": span,
    }


async def drag_baseline(context, url: str, path: str, model: str, seconds: float, slider: str) -> dict:
    """The drag on the server's Streamlit slider: pictures painted while the button was down, and from the
    release to the new picture painted."""
    page = await context.new_page()
    await page.add_init_script(PAINTS)
    await page.goto(f"{url}/{path}&model={model}" if "?" in path else f"{url}/{path}?model={model}")
    await settle(page)
    await page.wait_for_function("() => window.__paints.length > 0")
    await mouse_drag(page, page.locator(slider).first, seconds)
    await page.wait_for_function(
        "() => window.__pointer.up && window.__paints.some((t) => t > window.__pointer.up)", timeout=120_000
    )
    await settle(page)
    times = await page.evaluate("() => ({ paints: window.__paints, ...window.__pointer })")
    await page.close()
    during = [t for t in times["paints"] if times["down"] < t < times["up"]]
    after = [t for t in times["paints"] if t > times["up"]]
    return {"frames_during_drag": len(during), "release_to_paint_ms": min(after) - times["up"]}


SERVER_SLIDER = "[data-testid=stMain] [data-testid=stSlider] input[type=range]"
TEMPERATURE = "[data-testid=stSlider]:has-text('Temperature') input[type=range]"


async def drags(browser, urls: dict, models: list[str], seconds: float) -> list[dict]:
    rows = []
    for model in models:
        for what, path, slider in (
            ("Latent sliders, 1 + 7 latents", "sliders", SERVER_SLIDER),
            ("Sample 12 x 12, 144 latents", "sample?grid=12&control=Temperature", TEMPERATURE),
        ):
            context = await browser.new_context(viewport={"width": 1500, "height": 1100})
            context.set_default_timeout(180_000)
            live = await drag_live(context, urls["live"], path, model, seconds)
            base = await drag_baseline(context, urls["baseline"], path, model, seconds, slider)
            await context.close()
            rows.append({"model": model, "page": what, "live": live, "baseline": base})
            e = live["event_to_paint"]
            print(f"  {model}, {what}: {live['fps']:.0f} frames/s, {e['median_ms']:.0f}/{e['p95_ms']:.0f} ms; "
                  f"baseline {base['frames_during_drag']} frames, release {base['release_to_paint_ms']:.0f} ms",
                  flush=True)  # fmt: skip
    return rows


async def transferred(browser, url: str, models: list[str]) -> dict:
    """Bytes a fresh browser gets: the component's files over HTTP (and again on a second visit, where its cache
    may answer), and per model the websocket's bytes from opening the Latent sliders page to its first live
    frame (the decoder among them)."""
    context = await browser.new_context(viewport={"width": 1500, "height": 1100})
    context.set_default_timeout(180_000)
    visits: list[dict[str, int]] = [{}, {}]

    async def record(request, visit: dict) -> None:
        if "/component/" in request.url:
            name = request.url.split("?")[0].rsplit("/", 1)[-1]
            visit[name] = visit.get(name, 0) + (await request.sizes())["responseBodySize"]

    per_model = {}
    for i, model in enumerate([*models, models[0]]):
        page = await context.new_page()
        visit = visits[0] if i == 0 else visits[1] if i == len(models) else {}  # the first page, and the last
        page.on("requestfinished", lambda r, visit=visit: asyncio.ensure_future(record(r, visit)))
        received = [0]
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: received.__setitem__(0, received[0] + len(f))))
        await page.goto(f"{url}/sliders?model={model}")
        await live_frame(page)
        await asyncio.sleep(0.5)
        per_model[model if i < len(models) else f"{model}, again"] = received[0]
        await page.close()
    await context.close()
    return {"component_files": visits[0], "component_files_again": visits[1], "websocket_to_first_frame": per_model}


async def crowd(browser, url: str, live: bool, sessions: int, seconds: float, interval: float, pid: int) -> dict:
    """`sessions` pages on the Latent sliders page, each pressing its own slider's arrow keys every `interval`
    ms for `seconds`; each press's latency from the key to the decode painted, and the server's CPU time."""
    pages = []
    async with AsyncExitStack() as stack:
        for i in range(sessions):
            context = await browser.new_context(viewport={"width": 1500, "height": 1100})
            context.set_default_timeout(300_000)
            stack.push_async_callback(context.close)
            page = await context.new_page()
            if not live:
                await page.add_init_script(PAINTS)
            pages.append(page)
        await asyncio.gather(*(page.goto(f"{url}/sliders?model=mnist-vae") for page in pages))
        for page in pages:
            await settle(page)
        if live:
            canvases = await asyncio.gather(*(live_frame(page) for page in pages))
        else:
            await asyncio.gather(*(page.wait_for_function("() => window.__paints.length > 0") for page in pages))
        latencies: list[float] = []
        unpainted = [0]  # the baseline's presses that drew no new picture within a minute
        cpu0, machine0 = cpu_seconds(pid), cpu_seconds()

        async def presses(k: int) -> None:
            page = pages[k]
            if live:
                slider = page.frame_locator(FRAME).get_by_role("slider").nth(k % 4)
                since = (await canvases[k].evaluate(MARKS, 0))["now"]
            else:
                slider = page.locator(SERVER_SLIDER).nth(k % 4)
            await slider.focus()
            end, i = time.perf_counter() + seconds, 0
            while time.perf_counter() < end:
                i += 1
                key = "ArrowRight" if (i // 4) % 2 == 0 else "ArrowLeft"  # four right, four back
                if live:
                    await page.keyboard.press(key)
                    await asyncio.sleep(interval / 1000)
                else:
                    before = await page.evaluate("() => [performance.now(), window.__paints.length]")
                    await page.keyboard.press(key)
                    try:
                        await page.wait_for_function(f"() => window.__paints.length > {before[1]}", timeout=60_000)
                        latencies.append((await page.evaluate("() => window.__paints.at(-1)")) - before[0])
                    except PlaywrightTimeout:  # no new picture: the press was lost in a rerun, or drew the same pixels
                        unpainted[0] += 1
                    await asyncio.sleep(interval / 1000)
            if live:
                await asyncio.sleep(1.0)
                marks = await canvases[k].evaluate(MARKS, since)
                latencies.extend(live_latencies(marks["inputs"], marks["paints"]))

        await asyncio.gather(*(presses(k) for k in range(sessions)))
        cpu, machine = cpu_seconds(pid) - cpu0, cpu_seconds() - machine0
    return {"sessions": sessions, "latency": stats(latencies), "unpainted": unpainted[0], "server_cpu_s": cpu,
            "machine_cpu_s": machine}  # fmt: skip


async def measure(urls: dict, pids: dict, args) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=LOAD_FLAGS)
        try:
            print("bytes", flush=True)
            bytes_ = await transferred(browser, urls["live"], args.models)
            print("drags", flush=True)
            rows = await drags(browser, urls, args.models, args.seconds)
            crowds = {}
            for variant in ("live", "baseline"):
                for n in (1, args.sessions):
                    print(f"crowd: {variant}, {n} session(s)", flush=True)
                    crowds[f"{variant}-{n}"] = await crowd(
                        browser, urls[variant], variant == "live", n, args.crowd_seconds, args.interval, pids[variant]
                    )
            return {"drags": rows, "bytes": bytes_, "crowd": crowds, "chromium": browser.version}
        finally:
            await browser.close()


def export_ahead(models: list[str]) -> dict[str, int]:
    """The shipped decoders in genviz's cache (as `make run` makes them), and their sizes in bytes."""
    from genviz.export import cached_decoder

    return {m: cached_decoder(ROOT / "checkpoints" / m).stat().st_size for m in models}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.live_decode", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--seconds", type=float, default=2.0, help="how long each drag takes")
    p.add_argument("--sessions", type=int, default=20, help="browser sessions at once in the crowd")
    p.add_argument("--crowd-seconds", type=float, default=20.0, help="how long the crowd presses keys")
    p.add_argument("--interval", type=float, default=250.0, help="ms between one session's key presses")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args()
    if not Path(CHROMIUM).is_file():
        raise SystemExit(f"no Chromium at {CHROMIUM} (apt-get install chromium)")

    import streamlit
    import torch

    from genviz.data import cache_dir
    from support.machine import machine

    decoders = export_ahead(args.models)
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        servers = {
            name: stack.enter_context(
                serve("genviz/app.py", {"GENVIZ_BROWSER_DECODE": flag, "GENVIZ_CACHE_DIR": str(cache_dir())},
                      log=Path(folder) / f"{name}.log")
            )
            for name, flag in (("live", "1"), ("baseline", "0"))
        }  # fmt: skip
        urls = {name: s.url for name, s in servers.items()}
        pids = {name: s.process.pid for name, s in servers.items()}
        result = asyncio.run(measure(urls, pids, args))

    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    info = machine(torch.device("cpu"))
    print(f"\nDrags of {args.seconds:g} s, Chromium {result['chromium']} headless, "
          f"{info['processor']}, {info['cpu_count']} cores, {date}\n")  # fmt: skip
    print("| model | page | live: frames/s | input events | frames | event to paint median / p95 ms "
          "| baseline: frames during drag | release to paint ms |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in result["drags"]:
        live, base, e = r["live"], r["baseline"], r["live"]["event_to_paint"]
        print(f"| {r['model']} | {r['page']} | {live['fps']:.0f} | {live['inputs']} | {live['frames_during_drag']} "
              f"| {e['median_ms']:.0f} / {e['p95_ms']:.0f} | {base['frames_during_drag']} "
              f"| {base['release_to_paint_ms']:.0f} |")  # fmt: skip
    print(f"\nGoals (live): at least {GOAL_FPS} frames/s, one per input event; event to paint at most "
          f"{GOAL_MEDIAN_MS} ms median, {GOAL_P95_MS} ms p95.")  # fmt: skip
    c = result["crowd"]
    print(f"\nKey presses on the Latent sliders page (mnist-vae), one every {args.interval:g} ms per session "
          f"for {args.crowd_seconds:g} s\n")  # fmt: skip
    print("| path | sessions | presses timed | no new picture | median ms | p95 ms | max ms | server CPU s "
          "| machine CPU s |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for variant in ("live", "baseline"):
        for n in (1, args.sessions):
            r = c[f"{variant}-{n}"]
            lat = r["latency"]
            figures = " | ".join(f"{lat[k]:.0f}" if k in lat else "-" for k in ("median_ms", "p95_ms", "max_ms"))
            print(f"| {variant} | {n} | {lat['n']} | {r['unpainted']} | {figures} | {r['server_cpu_s']:.1f} "
                  f"| {r['machine_cpu_s']:.1f} |")  # fmt: skip
    b = result["bytes"]
    print("\nDownloaded by a fresh browser\n")
    print("| what | bytes | when |")
    print("| --- | ---: | --- |")
    for name, size in sorted(b["component_files"].items()):
        again = b["component_files_again"].get(name, 0)
        print(f"| component file {name} | {size:,} | first visit; {again:,} on a later visit in the same browser |")
    for model, size in b["websocket_to_first_frame"].items():
        name, again = model.removesuffix(", again"), model.endswith(", again")
        when = "a later visit in the same browser" if again else f"first visit; its decoder is {decoders[name]:,}"
        print(f"| {name}: websocket to the first live frame | {size:,} | {when} |")
    result.update({
        "date": date, "machine": info, "streamlit": streamlit.__version__, "decoder_bytes": decoders,
        "seconds": args.seconds, "interval_ms": args.interval, "crowd_seconds": args.crowd_seconds,
        "goal": {"fps": GOAL_FPS, "median_ms": GOAL_MEDIAN_MS, "p95_ms": GOAL_P95_MS},
    })  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
