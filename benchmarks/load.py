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
checked against what that session set (see `support.users.Session`), and for errors (see `Session.problems`).
When the time is up, the sessions go through `lockstep`: each sets its state on a page, waits until every
other session has set its own, then reruns the page and checks it again (its presses are counted
with the others under load). Run from the repo root:

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks.load

It prints a markdown table and writes JSON to benchmarks/results/load.json. The browser shares the
machine's cores with the server: on a small machine its 20 pages are part of the load.
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from support.browser import CHROMIUM, peak_rss_mib, serve
from support.probes import percentile
from support.users import LOAD_FLAGS, Session, cross_check, guarded, lockstep, own_state, png

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "load.json"


def mnist_pictures(n: int) -> list[bytes]:
    """The first n MNIST test digits as PNGs."""
    from genviz.data import load_dataset

    images = load_dataset("mnist", "test").images[:n, 0].numpy()
    return [png(image) for image in images]


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

    from support.machine import machine

    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "streamlit.log"
        with serve(
            "genviz/app.py", {"GENVIZ_BROWSER_DECODE": "0"}, log=log
        ) as server:  # Streamlit's sliders, on the server
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
