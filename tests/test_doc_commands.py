"""The commands the README and docs give, taken from their text, still work: each `genviz` command names a
subcommand and its arguments parse with that subcommand's own parser (`torchrun -m genviz...` too), each `make`
target exists, each `python -m` module is there, and the commands that finish in seconds are run as written
(RUN), in a folder holding copies of the checkpoints they name. Training for an hour is left to the training
tests, which run the same command lines on a few images."""

import importlib
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from genviz.cli import COMMANDS, serve_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# A command line: a program this project gives (or one it runs), after any VAR=value settings.
PROGRAMS = ("genviz", "make", "python", "torchrun", "pip", "streamlit", "mkdocs")
# Commands that name folders only as examples (`FOLDER`, `runs/`, `D`) or take placeholders: their arguments are
# parsed, not run. These run as written, each in seconds, with what they make checked.
RUN = {
    "genviz --help",
    "genviz export checkpoints",
    "genviz explore --embed checkpoints/mnist-vae",
    "genviz site checkpoints/mnist-vae checkpoints/cifar10-vae --out site",
}
# What each run command leaves behind, as a path under its folder that must exist after it.
MADE = {
    "genviz explore --embed checkpoints/mnist-vae": "checkpoints/mnist-vae/explore/thumbnails",
    "genviz site checkpoints/mnist-vae checkpoints/cifar10-vae --out site": "site/index.html",
}
# Other programs' commands the docs show, and the test that runs them instead.
ELSEWHERE = {
    "pip install": "tests/test_installed.py installs the wheel into a fresh environment",
    "python -m build": "tests/test_installed.py builds the wheel",
    "python -m http.server": "tests/test_site_browser.py serves a site with it",
    "streamlit run": "every browser test starts the app through genviz.serve",
    "mkdocs": ".ci/run builds the docs with mkdocs build --strict",
}


def doc_commands() -> list[tuple[str, str]]:
    """(file name, command) for every command in a bash block (continuation lines joined) or an inline code span
    that starts with one of PROGRAMS, with `.venv/bin/` and leading VAR=value settings taken off."""
    found = []
    for path in DOCS:
        text = path.read_text()
        lines = []
        for block in re.findall(r"```(?:bash|sh)\n(.*?)```", text, re.S):
            lines += re.sub(r"\\\n\s*", " ", block).splitlines()
        lines += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        for line in lines:
            command = re.sub(r"\s+#.*$", "", line).strip()
            command = re.sub(r"^(\w+=\S+\s+)+", "", command).replace(".venv/bin/", "")
            if command.split(" ", 1)[0] in PROGRAMS and " " in command or command in ("genviz", "make"):
                found.append((path.relative_to(ROOT).as_posix(), command))
    return found


COMMANDS_IN_DOCS = doc_commands()


def test_the_docs_give_commands_and_every_one_run_here_is_still_there():
    assert len(COMMANDS_IN_DOCS) > 50
    given = {command for _, command in COMMANDS_IN_DOCS}
    assert RUN <= given, f"run here but no longer in the docs: {RUN - given}"


def parse(name: str, args: list[str]) -> None:
    """`args` parsed by subcommand `name`'s parser: SystemExit (argparse's error) fails the test."""
    parser = serve_parser() if name == "serve" else importlib.import_module(COMMANDS[name][0]).build_parser()
    if name == "serve":
        parser.parse_known_args(args)  # Streamlit's own options pass through
    else:
        parser.parse_args(args)


def is_example(args: list[str]) -> bool:
    """Arguments that stand for what a user gives (`...`, `[FOLDER ...]`, `MODULE`), not ones to parse."""
    return any(a == "..." or a.startswith("[") or a.isupper() for a in args)


@pytest.mark.parametrize("where, command", COMMANDS_IN_DOCS, ids=[f"{w}: {c}"[:90] for w, c in COMMANDS_IN_DOCS])
def test_each_command_in_the_docs_is_one_that_works(where, command):
    words = shlex.split(command)
    program, args = words[0], words[1:]
    if program == "genviz":
        if not args or args[0].startswith("-"):
            assert args in ([], ["--help"], ["--version"]), f"{where}: {command}"
            return
        assert args[0] in COMMANDS, f"{where}: `{command}` names no genviz command"
        if args[1:] and not is_example(args[1:]):
            parse(args[0], args[1:])
    elif program == "torchrun":
        module = args.index("-m") + 1
        assert args[module] == "genviz.training.train", f"{where}: {command}"
        parse("train", args[module + 1 :])
    elif program == "make":
        target = args[0] if args else "run"
        done = subprocess.run(["make", "-n", "-C", ROOT, target], capture_output=True, text=True)
        assert done.returncode == 0, f"{where}: `{command}`: {done.stderr}"
    elif program == "python" and args[0] == "-m" and args[1] not in ("build", "http.server"):
        if is_example(args[1:]):
            return
        try:
            spec = importlib.util.find_spec(args[1])
        except ModuleNotFoundError:  # its package is missing
            spec = None
        assert spec is not None, f"{where}: `{command}`: no module {args[1]}"
    else:
        assert any(command.startswith(other) for other in ELSEWHERE), f"{where}: `{command}` is checked nowhere"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder holding copies of the checkpoints the run commands name, and a fresh cache."""
    folder = tmp_path_factory.mktemp("docs")
    for name in ("mnist-vae", "cifar10-vae", "thumbnails"):
        shutil.copytree(ROOT / "checkpoints" / name, folder / "checkpoints" / name)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(RUN))
def test_the_quick_commands_in_the_docs_run_as_written(command, workspace):
    env = {**os.environ, "GENVIZ_CACHE_DIR": str(workspace / "cache")}
    words = shlex.split(command)
    done = subprocess.run(
        [sys.executable, "-m", "genviz", *words[1:]], cwd=workspace, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"`{command}` failed:\n{done.stdout}\n{done.stderr}"
    if command in MADE:
        assert (workspace / MADE[command]).exists(), f"`{command}` did not make {MADE[command]}"
    if command == "genviz export checkpoints":
        assert done.stdout.count(": exported") == 2, done.stdout  # mnist-vae and cifar10-vae, into the fresh cache


def test_the_library_pages_first_example_runs_as_written(monkeypatch):
    code = re.search(r"```python\n(.*?)```", (ROOT / "docs" / "library.md").read_text(), re.S).group(1)
    monkeypatch.chdir(ROOT)  # it opens checkpoints/mnist-vae
    names = {}
    exec(compile(code, "docs/library.md", "exec"), names)
    assert names["images"].shape == (16, 1, 28, 28) and names["recon"].shape == names["images"].shape
    assert names["mu"].shape == names["logvar"].shape == (16, 16)
