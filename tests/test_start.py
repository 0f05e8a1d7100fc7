"""Starting the app as `make run` does: the server's background preparation (serve.py --prepare), the warm-up of
UMAP's inverse, the sidebar's model card in the sidebar's width, and no developer toolbar."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import genviz.export
from genviz import serve as server_script
from genviz import ui
from genviz.export import cached_decoder
from genviz.serve import warm_map_inverse
from genviz.ui.picker import metric_rows, metrics_section
from support.browser import chromium, free_port, missing_browser, serve, wait_for_painted_image

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = ROOT / "checkpoints"
MISSING = missing_browser()


def test_the_sidebar_card_shows_numbers_as_rows_and_names_the_nested_figures():
    metrics = json.loads((CHECKPOINTS / "mnist-vae" / "metrics.json").read_text())
    rows, rest = metric_rows(metrics)
    assert ("test mse", f"{metrics['test_mse']:.4g}") in rows
    probe = metrics["linear_probe"]  # four numbers: a row each
    assert ("linear probe: latent accuracy", f"{probe['latent_accuracy']:.4g}") in rows
    assert ("linear probe: train images", f"{probe['train_images']:,}") in rows
    assert {"sample_class_shares", "latent_usage", "rate_distortion", "evaluation"} <= set(rest)
    assert not {name for name, _ in rows} & {"evaluation", "rate distortion"}
    assert max(len(value) for _, value in rows) <= 10  # a value never needs more than its column
    section = metrics_section(metrics, rows)
    assert section.startswith("## Metrics\n\n| metric | value |\n| --- | ---: |\n")
    assert section.count("\n| ") == len(rows) + 2  # the header, its separator, and one line per row
    assert metrics_section({}, []).endswith("run `genviz evaluate <this folder>`.")


@pytest.mark.slow
def test_the_full_card_opens_with_every_nested_figure(tmp_path, monkeypatch):
    shutil.copytree(CHECKPOINTS / "mnist-vae", tmp_path / "mnist-vae", ignore=shutil.ignore_patterns("explore"))
    monkeypatch.setattr(ui, "CHECKPOINTS", [tmp_path])
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    metrics = json.loads((tmp_path / "mnist-vae" / "metrics.json").read_text())
    _, rest = metric_rows(metrics)
    nested = [name for name in rest if not isinstance(metrics[name], str)]
    app = AppTest.from_file("../genviz/app.py", default_timeout=120).run()
    card = app.sidebar.expander[0].markdown[0].value
    assert card.startswith("# mnist\\-vae\n") and "\n## Metrics\n\n| metric | value |" in card
    (caption,) = [c.value for c in app.sidebar.caption if c.value.startswith("In the full card:")]
    assert all(ui.plain(name.replace("_", " ")) in caption for name in rest)
    assert not app.json  # the nested figures are not in the sidebar
    app.sidebar.button(key="full_model_card").click().run()
    assert not app.exception
    assert [json.loads(j.value) for j in app.json] == [metrics[name] for name in nested]


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; its parent has not yet read its exit status


def _wait_for(condition, what, timeout_s: float = 300) -> None:
    """Poll until `condition()`; fails after timeout_s, a guard against a hang, not a limit on speed. `what`: the
    wait in words, or a function that gives them when it fails."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what() if callable(what) else what}"
        time.sleep(0.1)


@pytest.mark.slow
def test_prepare_exports_the_decoders_and_checks_the_bundles(tmp_path, monkeypatch):
    for name in ("mnist-ae", "mnist-classifier"):
        shutil.copytree(CHECKPOINTS / name, tmp_path / "checkpoints" / name)
    env = {**os.environ, "GENVIZ_CACHE_DIR": str(tmp_path / "cache"), "GENVIZ_DATA_DIR": str(tmp_path / "no-data")}
    done = subprocess.run(
        [sys.executable, "-m", "genviz.serve", "--prepare-only", str(tmp_path / "checkpoints")],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "(1 exported)" in done.stdout and "classifier" not in done.stdout  # a classifier has nothing to export
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(genviz.export, "decoder_onnx", lambda model: pytest.fail("exported again"))
    assert cached_decoder(tmp_path / "checkpoints" / "mnist-ae").is_file()  # a hit: what the app will read


@pytest.mark.slow
def test_make_run_prepares_at_the_lowest_priority_and_stops_with_the_server(tmp_path):
    for name in ("mnist-ae", "mnist-vae", "cifar10-ae"):  # a few exports: the preparation outlives the check
        shutil.copytree(CHECKPOINTS / name, tmp_path / "checkpoints" / name)
    port = free_port()
    env = {**os.environ, "GENVIZ_CHECKPOINTS": str(tmp_path / "checkpoints"), "GENVIZ_CACHE_DIR": str(tmp_path / "c"),
           "STREAMLIT_SERVER_PORT": str(port), "STREAMLIT_SERVER_HEADLESS": "true"}  # fmt: skip
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "genviz.serve", "--prepare"], cwd=ROOT, env=env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_for(lambda: _answers(f"http://127.0.0.1:{port}/_stcore/health"), "the server to answer")
        said = lambda: f"the preparation to start; the server said:\n{log.read_text()}"  # noqa: E731
        _wait_for(lambda: _children(server.pid), said)
        (child,) = _children(server.pid)
        # The process lowers its own priority as it starts: found at once, it may not have yet.
        _wait_for(lambda: _nice(child) == 19, lambda: f"the preparation at nice 19; it is at {_nice(child)}")
        server.send_signal(signal.SIGTERM)  # the server alone, as a test's or a service's stop does
        server.wait(timeout=60)
        _wait_for(lambda: not _alive(child), "the preparation to end with its server")
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
        return True
    except OSError:
        return False


def test_a_failed_warm_up_is_said_and_the_preparation_still_starts(monkeypatch, capsys, tmp_path):
    def fail():
        raise ValueError("no such dtype")

    started = []
    monkeypatch.setattr(server_script, "_warm_first_page", fail)
    monkeypatch.setattr(server_script, "_prepare_in_background", started.append)
    monkeypatch.setattr(ui.resources.FIRST_PAGE_RAN, "wait", lambda timeout=None: timeout is None)  # no page came
    server_script._start_up(tmp_path)
    assert started == [tmp_path]
    assert "warming the first page failed (ValueError: no such dtype)" in capsys.readouterr().out


@pytest.mark.slow
def test_warming_compiles_umaps_inverse_on_the_bundles_map(tmp_path):
    assert warm_map_inverse(str(CHECKPOINTS / "mnist-vae"))
    shutil.copytree(CHECKPOINTS / "mnist-vae", tmp_path / "mnist-vae", ignore=shutil.ignore_patterns("explore"))
    assert not warm_map_inverse(str(tmp_path / "mnist-vae"))  # no bundle: nothing to warm, and no error


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(bool(MISSING), reason=MISSING or "")
@pytest.mark.parametrize("model", ["mnist-vae", "cifar10-vae", "mnist-wgan-gp", "mnist-progan"])
def test_the_card_fits_the_sidebar_and_there_is_no_developer_toolbar(model):
    with serve("genviz/app.py") as server, chromium() as page:
        for width in (1400, 1024):
            page.set_viewport_size({"width": width, "height": 1000})
            page.goto(f"{server.url}/?model={model}")
            wait_for_painted_image(page)
            assert page.get_by_test_id("stMainMenu").count() == 0
            assert page.get_by_test_id("stAppDeployButton").count() == 0
            page.get_by_test_id("stSidebar").get_by_text("Model card", exact=True).click()
            page.get_by_test_id("stSidebar").get_by_role("button", name="Full model card").wait_for()
            overflow, tallest = page.evaluate(
                """() => {
                    const card = document.querySelector('[data-testid=stSidebar] [data-testid=stExpander]');
                    const right = card.getBoundingClientRect().right;
                    const cells = [...document.querySelectorAll('[data-testid=stSidebar] td')];
                    return [cells.filter(c => c.getBoundingClientRect().right > right + 0.5).length,
                            Math.max(...cells.map(c => c.getBoundingClientRect().height))];
                }"""
            )
            assert overflow == 0, f"{overflow} cells run past the card's edge at {width} px"
            assert tallest < 150, f"a row of the card is {tallest:.0f} px tall at {width} px"
