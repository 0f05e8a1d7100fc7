"""Many users at once: 20 browser sessions on one `streamlit run app.py`, each opening pages, setting its
own seed, latent slider and upload, and moving the slider, for a bounded time; the errors, the slider's
latency under that load against one session alone, and whether any session saw another's state.

One server over the shipped checkpoints (the default model, mnist-vae) and one headless Chromium with a
browser context per session (its own cookies and websocket: its own Streamlit session), driven
concurrently by Playwright's async API. First one session alone (a warm-up round, then rounds until
--alone-presses presses are timed), then --sessions sessions opened at once, going round the pages
for --seconds once all are open. A round: Latent sliders (the session's own slider sent Home, then
--extra presses right beyond its own position and back, each press timed from keydown to the new
decode painted, as in benchmarks/slider_latency.py), Sample (the session's seed typed in),
Reconstruct and denoise (the session's own MNIST test digit uploaded under its own file name), Home;
pages are switched by the sidebar, so each session keeps its websocket. After each step the page is
checked against what that session set (see `Session`), and for errors (see `Session.problems`). When
the time is up, the sessions go through `lockstep`: each sets its state on a page, waits until every
other session has set its own, then reruns the page and checks it again (its presses are counted
with the others under load). Run from the repo root:

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks.load

It prints a markdown table and writes JSON to benchmarks/results/load.json. The browser shares the
machine's cores with the server: on a small machine its 20 pages are part of the load.
"""

import argparse
import asyncio
import io
import json
import os
import re
import statistics
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image

from benchmarks.browser import CHROMIUM, FLAGS, peak_rss_mib, serve
from benchmarks.slider_latency import IDLE, PROBE, percentile

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "load.json"
# Pages in one headless Chromium, none of them in front: none may be throttled as a background tab.
LOAD_FLAGS = [
    *FLAGS,
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
]
MAIN = "[data-testid=stMain]"
HEADINGS = {"Home": "genviz"}  # a page's heading, where it is not its title in the sidebar
UPLOAD_NAME = re.compile(r"user\d+-round\d+\.png")  # the file names sessions upload

# window.__runs counts the changes of the page's run state to "not running" (see Session.until).
RUNS = """
(() => {
  window.__runs = 0;
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.oldValue && r.oldValue !== 'notRunning' && r.target.dataset.testScriptState === 'notRunning') {
        window.__runs++;
      }
    }
  }).observe(document, { subtree: true, attributes: true, attributeOldValue: true,
                         attributeFilter: ['data-test-script-state'] });
})();
"""

# Each dimension slider on the Latent sliders page as [label, thumb value shown, min, step].
SLIDERS = f"""() => [...document.querySelectorAll('{MAIN} [data-testid=stSlider]')].map((s) => {{
  const input = s.querySelector('input[type=range]');
  return [s.querySelector('[data-testid=stWidgetLabel]').innerText,
          s.querySelector('[data-testid=stSliderThumbValue]').innerText, input.min, input.step];
}})"""

# The main area's first heading is this one.
HEADING = f"(h) => document.querySelector('{MAIN} h1')?.innerText.trim() === h"
# The caption of the Sample page's grid, if shown.
GRID_CAPTION = f"""() => [...document.querySelectorAll('{MAIN} [data-testid=stImage]')]
  .map((e) => e.innerText).find((t) => t.includes('samples of'))"""
# Every picture in the main area as [caption, src].
PICTURES = f"""() => [...document.querySelectorAll('{MAIN} [data-testid=stImage]')].map((e) =>
  [e.querySelector('[data-testid=stImageCaption]')?.innerText ?? e.innerText, e.querySelector('img')?.src])"""


@dataclass(frozen=True)
class Own:
    """What one session sets, distinct from every other session's at the same time."""

    seed: int  # typed into the Sample page
    slider: int  # which dimension slider it moves: 0 to 3, in page order
    steps: int  # key presses above that slider's minimum where it leaves it
    upload: str  # the file name of its upload on the Reconstruct page
    picture: bytes  # that upload, a PNG


def own_state(index: int, round: int, pictures: list[bytes]) -> Own:
    """Session `index`'s state in round `round`: no two sessions (up to 100) share a seed or a (slider,
    steps) pair, and each uploads its own picture (`pictures[index]`) under a name of its own."""
    return Own(
        seed=1000 + 100 * round + index,
        slider=index % 4,
        steps=1 + index // 4,
        upload=f"user{index:02d}-round{round}.png",
        picture=pictures[index],
    )


def png(image) -> bytes:
    """A uint8 (H, W) array as PNG bytes, drawn as on paper (dark ink on white), 112 px."""
    buffer = io.BytesIO()
    Image.fromarray(255 - image).resize((112, 112)).save(buffer, format="PNG")
    return buffer.getvalue()


def mnist_pictures(n: int) -> list[bytes]:
    """The first n MNIST test digits as PNGs."""
    from genviz.data import load_dataset

    images = load_dataset("mnist", "test").images[:n, 0].numpy()
    return [png(image) for image in images]


class Session:
    """One user: a browser context (its own cookies, so its own Streamlit session) and its page.

    `errors`: what went wrong: an exception or an error alert in the page, a lost connection (the
    connection status shown, the websocket closed), an uncaught script error, a crashed page, a
    step that timed out. `violations`: where the page showed something other than what this session
    set: on Latent sliders, its slider not where it left it, or the latent printed under the decode
    not the one its sliders show; on Sample, another seed in the box or the caption; on Reconstruct,
    its upload missing, or another session's upload shown. `seen`: the pictures it was shown, by
    what it set, for the cross-check between sessions (`cross_check`)."""

    def __init__(self, index: int, context, page) -> None:
        self.index, self.context, self.page = index, context, page
        self.errors: list[str] = []
        self.violations: list[str] = []
        self.presses: list[dict] = []
        self.seen: dict[tuple, str] = {}  # ("seed", 1003) or ("upload", name): the src of its picture
        self.closing = False
        self.step = "opening"
        page.on("pageerror", lambda e: self.error(f"uncaught script error: {e}"))
        page.on("crash", lambda *_: self.error("the page crashed"))
        page.on("websocket", lambda ws: ws.on("close", lambda *_: self.closing or self.error("websocket closed")))

    @classmethod
    async def open(cls, browser, url: str, index: int, timeout_ms: float = 120_000) -> "Session":
        context = await browser.new_context(viewport={"width": 1500, "height": 1100})
        context.set_default_timeout(timeout_ms)
        await context.add_init_script(RUNS)
        await context.add_init_script(PROBE)  # times a key press to the decode painted
        session = cls(index, context, await context.new_page())
        await session.home(url)
        return session

    def error(self, what: str) -> None:
        self.errors.append(f"session {self.index}, {self.step}: {what}")

    def violation(self, what: str) -> None:
        self.violations.append(f"session {self.index}, {self.step}: {what}")

    async def home(self, url: str) -> None:
        """The home page, loaded afresh (a new Streamlit session), its samples painted."""
        self.step = "opening the home page"
        self.closing = True  # the websocket of the session the page held, if any, closes
        await self.page.goto(url)
        self.closing = False
        await self.page.locator(f"{MAIN} [data-testid=stImage] img").first.wait_for()
        await self.page.wait_for_selector(IDLE, state="attached")
        await self.problems()

    async def close(self) -> None:
        self.closing = True
        await self.context.close()

    async def until(self, predicate: str, arg=None) -> None:
        """Until `predicate` holds in the page and no run is going; then look for errors. Whether a run has
        ended cannot be told from the page's run state alone: under load its messages come in bunches, and
        React may draw "running" and "not running" as one change, or none. So each step waits for what it
        changes to show first: a new heading, a new caption, a new picture."""
        # Polled on a timer: a page not in front may get no animation frames to poll on.
        await self.page.wait_for_function(predicate, arg=arg, polling=50)
        await self.page.wait_for_selector(IDLE, state="attached")
        await self.problems()

    async def problems(self) -> None:
        for test_id, what in (
            ("stException", "exception"),
            ("stAlertContentError", "error alert"),
            ("stConnectionStatus", "connection status"),
        ):
            for text in await self.page.get_by_test_id(test_id).all_inner_texts():
                self.error(f"{what}: {' '.join(text.split())[:300]}")

    async def visit(self, title: str) -> None:
        """Another page, by its link in the sidebar (the same websocket, the same session)."""
        self.step = f"opening {title}"
        await self.page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
        await self.until(HEADING, HEADINGS.get(title, title))  # the old page's elements went with the click

    async def rerun(self) -> None:
        """The page's script again, as the R key asks, with nothing changed in the page. The key sets the
        run state to "rerun requested" at once, a change drawn on its own, so a run counted as ended by
        `RUNS` after it is this one."""
        self.step = f"{self.step}, rerun"
        before = await self.page.evaluate("window.__runs")
        await self.page.locator(f"{MAIN} h1").first.click()  # out of any input, where R is typed
        await self.page.keyboard.press("r")
        await self.until("(n) => window.__runs > n", before)

    async def press(self, key: str) -> dict:
        """One key press on the focused slider; its timestamps once the new decode is painted and the run ended."""
        pending = await self.page.evaluate_handle("() => ({ done: window.__arm() })")  # not awaited here
        await self.page.keyboard.press(key)
        mark = await self.page.evaluate("(p) => p.done", pending)
        await pending.dispose()
        await self.page.wait_for_selector(IDLE, state="attached")
        return mark

    async def slide(self, own: Own, extra: int = 0) -> None:
        """On Latent sliders: its slider Home, then right `own.steps + extra` presses and left `extra`, each timed."""
        self.step = "moving a latent slider"
        await self.page.locator(f"{MAIN} [data-testid=stSlider] input[type=range]").nth(own.slider).focus()
        for key in ["Home"] + ["ArrowRight"] * (own.steps + extra) + ["ArrowLeft"] * extra:
            self.presses.append(await self.press(key))
        await self.problems()
        await self.check_slider(own)

    async def check_slider(self, own: Own) -> None:
        """Its slider `own.steps` steps above its minimum, and the latent printed under the decode the one
        every dimension slider shows (to their two decimals)."""
        sliders = [s for s in await self.page.evaluate(SLIDERS) if re.fullmatch(r"z\[\d+\]", s[0])]
        label, shown, low, step = sliders[own.slider]
        expected = float(low) + own.steps * float(step)
        if abs(float(shown) - expected) > 0.006:
            self.violation(f"slider {label} shows {shown}; this session left it at {expected:.2f}")
        code = await self.page.locator(f"{MAIN} [data-testid=stCode]").first.inner_text()
        z = json.loads(code)
        for label, shown, _, _ in sliders:
            d = int(label[2:-1])
            if abs(z[d] - float(shown)) > 0.006:
                self.violation(f"the decoded latent has {label} = {z[d]:.4f}; this session's slider shows {shown}")

    async def sample(self, own: Own) -> None:
        """On Sample: its seed typed in."""
        self.step = "setting the seed"
        before = await self.page.evaluate(GRID_CAPTION)
        box = self.page.locator(f"{MAIN} [data-testid=stNumberInput] input").first
        await box.fill(str(own.seed))
        await box.press("Enter")
        await self.until(f"(before) => {{ const c = ({GRID_CAPTION})(); return c && c !== before; }}", before)
        await self.check_sample(own)

    async def check_sample(self, own: Own) -> None:
        value = await self.page.locator(f"{MAIN} [data-testid=stNumberInput] input").first.input_value()
        if value != str(own.seed):
            self.violation(f"the seed box shows {value}; this session typed {own.seed}")
        grids = [(caption, src) for caption, src in await self.page.evaluate(PICTURES) if "samples of" in caption]
        if len(grids) != 1 or f"seed {own.seed}," not in grids[0][0]:
            self.violation(f"the sample grid's caption is {[c for c, _ in grids]}; this session's seed is {own.seed}")
        else:
            self.seen[("seed", own.seed)] = grids[0][1]

    async def upload(self, own: Own) -> None:
        """On Reconstruct and denoise: its picture uploaded under its own name."""
        self.step = "uploading a picture"
        picture = {"name": own.upload, "mimeType": "image/png", "buffer": own.picture}
        await self.page.locator(f"{MAIN} [data-testid=stFileUploader] input[type=file]").set_input_files(picture)
        await self.until(f"() => ({PICTURES})().some(([c]) => /^{UPLOAD_NAME.pattern}$/.test(c))")
        await self.check_upload(own)

    async def check_upload(self, own: Own) -> None:
        pictures = await self.page.evaluate(PICTURES)
        mine = [src for caption, src in pictures if caption == own.upload]
        if len(mine) != 1:
            self.violation(f"{len(mine)} pictures captioned {own.upload}, this session's upload, instead of 1")
        else:
            self.seen[("upload", own.upload)] = mine[0]
        for caption, _ in pictures:
            if UPLOAD_NAME.fullmatch(caption) and caption != own.upload:
                self.violation(f"another session's upload is shown: {caption}")

    async def round(self, own: Own, extra: int) -> None:
        """Every page in turn, setting this session's state on each and checking it."""
        await self.visit("Latent sliders")
        await self.slide(own, extra)
        await self.visit("Sample")
        await self.sample(own)
        await self.visit("Reconstruct and denoise")
        await self.upload(own)
        await self.visit("Home")


async def lockstep(sessions: list[Session], pictures: list[bytes], round: int = 0) -> None:
    """Each session sets its state on a page, waits until every other session has set its own, then
    reruns the page and checks it again: Latent sliders, then Sample, then Reconstruct and denoise."""
    pairs = [(s, own_state(s.index, round, pictures)) for s in sessions]
    steps = (
        ("Latent sliders", Session.slide, Session.check_slider),
        ("Sample", Session.sample, Session.check_sample),
        ("Reconstruct and denoise", Session.upload, Session.check_upload),
    )
    for title, act, check in steps:
        done = await asyncio.gather(*(guarded(s, s.visit(title), act(s, own)) for s, own in pairs))
        await asyncio.gather(
            *(guarded(s, s.rerun(), check(s, own)) for (s, own), ok in zip(pairs, done, strict=True) if ok)
        )


async def guarded(session: Session, *steps) -> bool:
    """The steps (coroutines) in turn, a failure (a timeout, a closed page) recorded as the session's error;
    False then, and the steps left are not taken."""
    try:
        for step in steps:
            await step
        return True
    except Exception as e:  # any failure of a step is one of the errors counted
        for step in steps:
            step.close()  # those not begun, so that none is left never awaited
        session.error(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return False


def cross_check(sessions: list[Session]) -> list[str]:
    """The same picture shown to two sessions (for their seeds, which differ, or their uploads, which are
    different digits): one saw the other's. An image's URL is a hash of its bytes."""
    owner: dict[str, tuple[int, tuple]] = {}
    found = []
    for s in sessions:
        for what, src in s.seen.items():
            first = owner.setdefault(src, (s.index, what))
            if first[0] != s.index:
                found.append(
                    f"session {s.index} was shown for {what} the picture session {first[0]} saw for {first[1]}"
                )
    return found


def server_metrics(url: str) -> dict[str, float]:
    """Streamlit's session metrics: active sessions, and connects, reconnects, disconnects so far."""
    query = "families=active_sessions&families=session_events"
    text = urllib.request.urlopen(f"{url}/_stcore/metrics?{query}", timeout=30).read().decode()
    found = {}
    for line in text.splitlines():
        if m := re.fullmatch(r'(active_sessions|session_events_total)(?:\{type="(\w+)"\})? ([\d.e+-]+)', line):
            found[m[2] or m[1]] = float(m[3])
    return found


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user and system) of process `pid`, or of the whole machine when None (Linux's /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    if pid is None:
        user, nice, system, _, _, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
        return (user + nice + system + irq + softirq) / tick
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick  # utime, stime


def healthy(url: str) -> bool:
    try:
        return urllib.request.urlopen(f"{url}/_stcore/health", timeout=10).read() == b"ok"
    except OSError:
        return False


def timed(presses: list[dict]) -> list[float]:
    """Key press to new decode painted, ms, of the presses that changed the picture."""
    return [m["end"] - m["key"] for m in presses if not m.get("unchanged")]


def latency(totals: list[float]) -> dict:
    if not totals:
        return {"n": 0}
    return {
        "n": len(totals),
        "median_ms": statistics.median(totals),
        "p95_ms": percentile(totals, 95),
        "max_ms": max(totals),
    }


async def alone(browser, url: str, pictures: list[bytes], presses: int, extra: int) -> Session:
    """One session by itself: a warm-up round, then rounds until `presses` presses are timed."""
    session = await Session.open(browser, url, 0)
    await session.round(own_state(0, 0, pictures), extra)
    session.presses.clear()
    round = 1
    while len(session.presses) < presses:
        await session.round(own_state(0, round, pictures), extra)
        round += 1
    return session


async def crowd(browser, url: str, pid: int, pictures: list[bytes], n: int, seconds: float, extra: int) -> dict:
    """n sessions opened at once, then each going round the pages until `seconds` are up, then `lockstep`;
    the CPU time of the server (process `pid`) and of the whole machine over the rounds and lockstep."""
    held, unanswered = [], 0  # the server's count of active sessions, sampled each second; samples missed

    async def sample_sessions() -> None:
        nonlocal unanswered
        while True:
            try:
                held.append((await asyncio.to_thread(server_metrics, url)).get("active_sessions", 0))
            except OSError:
                unanswered += 1
            await asyncio.sleep(1)

    async def opened(index: int) -> Session | None:
        try:
            return await Session.open(browser, url, index)
        except Exception as e:  # counted; the other sessions go on
            errors.append(f"session {index}, opening: {type(e).__name__}: {str(e).splitlines()[0]}")
            return None

    async def user(session: Session) -> int:
        rounds = 0
        while time.perf_counter() < deadline:
            if await guarded(session, session.round(own_state(session.index, rounds, pictures), extra)):
                rounds += 1
            elif not await guarded(session, session.home(url)):  # a new session in the same page
                break
        return rounds

    errors: list[str] = []
    sampler = asyncio.create_task(sample_sessions())
    start = time.perf_counter()
    sessions = [s for s in await asyncio.gather(*(opened(i) for i in range(n))) if s]
    opening = time.perf_counter() - start
    cpu = cpu_seconds(pid), cpu_seconds()
    deadline = time.perf_counter() + seconds
    rounds = await asyncio.gather(*(user(s) for s in sessions))
    elapsed = time.perf_counter() - deadline + seconds
    await lockstep(sessions, pictures, round=max(rounds, default=0) + 1)
    cpu = cpu_seconds(pid) - cpu[0], cpu_seconds() - cpu[1]
    sampler.cancel()
    after = await asyncio.to_thread(server_metrics, url)
    for s in sessions:
        await s.close()
    return {
        "sessions": sessions,
        "errors": errors + [e for s in sessions for e in s.errors],
        "violations": [v for s in sessions for v in s.violations] + cross_check(sessions),
        "presses": [p for s in sessions for p in s.presses],
        "rounds": sum(rounds),
        "opening_s": opening,
        "seconds": elapsed,
        "held_peak": max(held, default=0),
        "metrics_unanswered": unanswered,
        "server": after,
        "cpu_s": {"server": cpu[0], "machine": cpu[1]},
    }


async def measure(url: str, pid: int, args) -> dict:
    from playwright.async_api import async_playwright

    pictures = mnist_pictures(max(args.sessions, 1))
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=LOAD_FLAGS)
        try:
            print(f"one session alone, {args.alone_presses} presses...", flush=True)
            solo = await alone(browser, url, pictures, args.alone_presses, args.extra)
            await solo.close()
            print(f"{args.sessions} sessions at once for {args.seconds:.0f} s...", flush=True)
            load = await crowd(browser, url, pid, pictures, args.sessions, args.seconds, args.extra)
            return {"alone": solo, "load": load, "chromium": browser.version}
        finally:
            await browser.close()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=20, help="browser sessions at once")
    p.add_argument("--seconds", type=float, default=60, help="how long they go round the pages")
    p.add_argument("--alone-presses", type=int, default=50, help="timed key presses of the one session alone")
    p.add_argument("--extra", type=int, default=4, help="presses right and back again on each visit to the sliders")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args()
    if not Path(CHROMIUM).is_file():
        raise SystemExit(f"no Chromium at {CHROMIUM} (apt-get install chromium)")

    import streamlit
    import torch

    from benchmarks.train_throughput import machine

    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "streamlit.log"
        with serve("app.py", log=log) as server:
            result = asyncio.run(measure(server.url, server.process.pid, args))
            alive = server.process.poll() is None and healthy(server.url)
            rss = peak_rss_mib(server.process.pid)
        tracebacks = log.read_text().count("Traceback")
    solo, load = result["alone"], result["load"]
    errors = [*solo.errors, *load["errors"]]
    violations = [*solo.violations, *load["violations"]]
    rows = {"alone": latency(timed(solo.presses)), "load": latency(timed(load["presses"]))}
    summary = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "checkpoint": "checkpoints/mnist-vae",
        "machine": machine(torch.device("cpu")),
        "streamlit": streamlit.__version__,
        "chromium": result["chromium"],
        "sessions": args.sessions,
        "opening_s": round(load["opening_s"], 1),
        "seconds": round(load["seconds"], 1),
        "rounds": load["rounds"],
        "presses": {"alone": len(solo.presses), "load": len(load["presses"])},
        "slider_latency_ms": rows,
        "errors": len(errors) + tracebacks,
        "server_tracebacks": tracebacks,
        "isolation_violations": len(violations),
        "sessions_held_peak": load["held_peak"],
        "metrics_unanswered": load["metrics_unanswered"],
        "server_session_events": load["server"],
        "server_peak_rss_mib": round(rss),
        "cpu_s_rounds": {k: round(v, 1) for k, v in load["cpu_s"].items()},
        "server_healthy_after": alive,
        "error_list": errors[:100],
        "violation_list": violations[:100],
    }
    where = f"{summary['machine']['processor']}, {summary['machine']['cpu_count']} cores"
    print(f"\n{args.sessions} sessions at once on one server, mnist-vae, {where}, {summary['date']}\n")
    print("| | sessions | rounds | presses | errors | isolation violations | median ms | p95 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, sessions, rounds, errs, viol in (
        ("alone", 1, "", len(solo.errors), len(solo.violations)),
        ("under load", args.sessions, load["rounds"], len(load["errors"]) + tracebacks, len(load["violations"])),
    ):
        r = rows["alone" if name == "alone" else "load"]
        figures = " | ".join(f"{r[k]:.0f}" if k in r else "-" for k in ("median_ms", "p95_ms", "max_ms"))
        print(f"| {name} | {sessions} | {rounds} | {r['n']} | {errs} | {viol} | {figures} |")
    events = load["server"]
    print(
        f"\nOpening the {args.sessions} sessions at once took {load['opening_s']:.0f} s; then "
        f"{load['seconds']:.0f} s of rounds, and a round in lockstep (its presses counted under load).\n"
        f"Server: peak RSS {rss:,.0f} MiB; sessions held at once (peak) {load['held_peak']:.0f}; "
        f"connects {events.get('connect', 0):.0f}, reconnects {events.get('reconnect', 0):.0f}, "
        f"disconnects {events.get('disconnect', 0):.0f}; tracebacks in its log {tracebacks}; "
        f"{'healthy' if alive else 'NOT healthy'} after the run; "
        f"{load['metrics_unanswered']} of its metrics samples (one a second) unanswered within 30 s.\n"
        f"CPU time over the rounds and lockstep: server {load['cpu_s']['server']:.0f} s of the machine's "
        f"{load['cpu_s']['machine']:.0f} s ({load['cpu_s']['server'] / load['cpu_s']['machine']:.0%}); the rest is "
        "mostly Chromium rendering the sessions' pages."
    )
    for line in (errors + violations)[:20]:
        print(f"- {line}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
