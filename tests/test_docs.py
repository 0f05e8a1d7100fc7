"""The front door and the docs stay true: the README is short and its links lead somewhere, the shipped
checkpoints' table in the docs lists every shipped folder with the figures its metrics.json holds, and every
picture in the docs is one `make screenshots` takes from the real app. (`mkdocs build --strict`, run by .ci/run,
checks the links between docs pages.)"""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genviz.checkpoint import read_metrics
from genviz.folders import find_checkpoints
from support.browser import missing_browser
from support.screenshots import HEIGHT, SHOTS, WIDTH

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TABLE_PAGE = ROOT / "docs" / "shipped-checkpoints.md"

# Figures of the table's "test figures" column: (pattern, metrics.json key, scale to the table's unit). Each is
# written to as many decimals as the table shows it with.
FIGURES = [
    (r"\bMSE (\d\.\d+)", "test_mse", 1),
    (r"\bPSNR (\d+\.\d+) dB", "test_psnr_db", 1),
    (r"negative ELBO (?:of the image given its class )?(\d+\.\d+) nats", "test_negative_elbo_nats", 1),
    (r"\bFID (\d+\.\d+)", "sample_fid_classifier", 1),
    (r"^accuracy (\d+\.\d+)%", "test_accuracy", 100),
]


def table_rows() -> dict[str, str]:
    """The first table of the shipped-checkpoints page: folder name -> its test-figures cell."""
    lines = TABLE_PAGE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| folder |"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[2]
    return rows


def test_the_readme_is_under_10_kb_and_its_links_lead_to_files():
    text = README.read_text()
    assert len(text.encode()) < 10_000, f"README.md is {len(text.encode())} bytes: move detail into docs/"
    targets = re.findall(r"\]\(([^)#\s]+)[^)]*\)", text) + re.findall(r'src="([^"]+)"', text)
    local = [t for t in targets if not t.startswith(("http://", "https://"))]
    assert local, "the README links into docs/"
    assert [t for t in local if not (ROOT / t).exists()] == []


def test_the_table_lists_every_shipped_checkpoint():
    assert sorted(table_rows()) == [folder.name for folder in find_checkpoints(ROOT / "checkpoints")]


@pytest.mark.parametrize("name", [folder.name for folder in find_checkpoints(ROOT / "checkpoints")])
def test_the_tables_figures_are_the_metrics(name):
    cell, metrics = table_rows()[name], read_metrics(ROOT / "checkpoints" / name)
    checked = 0
    for pattern, key, scale in FIGURES:
        if found := re.search(pattern, cell):
            shown = found.group(1)
            assert f"{scale * metrics[key]:.{len(shown.split('.')[1])}f}" == shown, (name, key, metrics[key])
            checked += 1
    assert checked, f"no figure of {name}'s row is checked against its metrics.json"


def test_every_picture_in_the_docs_is_a_screenshot_the_script_takes_and_is_shown():
    images = ROOT / "docs" / "images"
    assert sorted(p.stem for p in images.iterdir()) == sorted(SHOTS)
    pages = README.read_text() + "".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    assert [name for name in SHOTS if f"images/{name}.png" not in pages] == []
    for name in SHOTS:
        with Image.open(images / f"{name}.png") as picture:
            assert picture.size == (WIDTH, HEIGHT), name


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(bool(missing_browser()), reason=missing_browser() or "")
def test_the_screenshot_script_takes_the_map_from_the_running_app(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "support.screenshots", "--out", str(tmp_path), "map"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "map.png") as picture:
        assert picture.size == (WIDTH, HEIGHT)
        pixels = np.asarray(picture.convert("RGB"), dtype=np.int16)
    # The map's points are drawn in the class colours: many pixels far from grey.
    colourful = (pixels.max(axis=2) - pixels.min(axis=2)) > 80
    assert colourful.mean() > 0.01
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.png"]
