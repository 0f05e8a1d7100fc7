"""Many users of one running app at once, each a browser context in one Chromium (its own cookies and
websocket: its own Streamlit session), driven by Playwright's async API: each sets its own seed, latent
slider and upload, and checks that the page shows what it set and nothing another session set.
`benchmarks/load.py` times them under load; `tests/test_load.py` holds them to no errors and no leaks."""

import asyncio
import io
import json
import re
from dataclasses import dataclass

from PIL import Image

from support.browser import FLAGS
from support.probes import IDLE, PROBE

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


class Session:
    """One user: a browser context (its own cookies, so its own Streamlit session) and its page.

    `errors`: what went wrong: an exception or an error alert in the page, a lost connection (the
    connection status shown, the websocket closed), an uncaught script error, a crashed page, a
    step that timed out. `violations`: where the page showed something other than what this session
    set: on Latent sliders, its slider not where it left it, or the latent printed under the decode
    not the one its sliders show; on Sample, another seed in the box or the caption; on Reconstruct,
    its upload missing, or another session's upload shown. `seen`: the pictures it was shown, by
    what it set, for the cross-check between sessions (`cross_check`)."""

    def __init__(self, index: int, context, page, timeout_s: float) -> None:
        self.index, self.context, self.page, self.timeout_s = index, context, page, timeout_s
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
        session = cls(index, context, await context.new_page(), timeout_ms / 1000)
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
        try:
            mark = await asyncio.wait_for(self.page.evaluate("(p) => p.done", pending), self.timeout_s)
        except TimeoutError:
            raise TimeoutError(f"{key} pressed: no new decode and no rest in {self.timeout_s:.0f} s") from None
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
        await self.page.locator(MAIN).get_by_text("Upload", exact=True).click()  # the page opens on test images
        await self.page.locator(f"{MAIN} [data-testid=stFileUploader]").wait_for()
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
