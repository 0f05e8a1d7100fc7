"""The front door and the docs stay true: the README is short and its links lead somewhere, and the shipped
checkpoints' table in the docs lists every shipped folder with the figures its metrics.json holds.
(`mkdocs build --strict`, run by .ci/run, checks the links between docs pages.)"""

import re
from pathlib import Path

import pytest

from genviz.checkpoint import find_checkpoints, read_metrics

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
