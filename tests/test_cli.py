"""The `genviz` command: its help lists every command line, each subcommand runs its module's own, and
`genviz serve` refuses folders it cannot serve, in words, before starting anything. (tests/test_installed.py
runs it from an installed wheel; tests/test_doc_commands.py runs the commands the docs give.)"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from genviz import ui
from genviz.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent


def genviz(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genviz", *map(str, args)], cwd=cwd, capture_output=True, text=True)


def test_help_lists_every_command_with_a_sentence(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    said = capsys.readouterr().out
    for name, (_, summary) in COMMANDS.items():
        assert f"    {name} " in said and summary.split()[0] in said


@pytest.mark.parametrize("name", [n for n in COMMANDS if n != "serve"])
def test_each_subcommand_is_its_modules_command_line(name, capsys):
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith(f"usage: genviz {name}")


def test_an_unknown_command_is_refused_with_the_list():
    done = genviz("trian")
    assert done.returncode == 2 and "invalid choice: 'trian'" in done.stderr and "train" in done.stderr


def test_serve_refuses_a_missing_folder_and_one_without_checkpoints(tmp_path):
    done = genviz("serve", tmp_path / "nope")
    assert done.returncode == 2 and f"{tmp_path / 'nope'} is not a folder" in done.stderr
    (tmp_path / "empty").mkdir()
    done = genviz("serve", tmp_path / "empty")
    assert done.returncode == 2 and "no checkpoints in" in done.stderr and "config.json" in done.stderr
    done = genviz("serve", cwd=tmp_path)  # no ./checkpoints here
    assert done.returncode == 2 and "name a folder of checkpoints: genviz serve FOLDER" in done.stderr
    done = genviz("serve", "--prot", "80")
    assert done.returncode == 2 and "unrecognized arguments: --prot" in done.stderr


def test_the_picker_lists_the_checkpoints_of_every_folder_given(tmp_path, monkeypatch):
    """`genviz serve runs/ other/my-vae`: a folder of checkpoints and a checkpoint folder, listed together."""
    shutil.copytree(ROOT / "checkpoints" / "mnist-ae", tmp_path / "runs" / "mnist-ae")
    shutil.copytree(ROOT / "checkpoints" / "mnist-vae", tmp_path / "other" / "my-vae")
    monkeypatch.setattr(ui, "CHECKPOINTS", [tmp_path / "runs", tmp_path / "other" / "my-vae"])
    assert ui.picker.listed_folders() == [str(tmp_path / "runs" / "mnist-ae"), str(tmp_path / "other" / "my-vae")]
