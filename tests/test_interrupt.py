"""Training interrupted by a real signal loses at most the epoch in progress."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from genviz import load_model
from tests.conftest import train_args

pytestmark = pytest.mark.skipif(os.name != "posix", reason="uses POSIX signals")


def start(out, run_dir, epochs, *extra):
    argv = train_args(out, run_dir, "vae", epochs, *extra)
    argv[argv.index("--limit") + 1] = "8192"  # 128 steps an epoch: long enough to interrupt
    return subprocess.Popen(
        [sys.executable, "-m", "training.train", *argv],
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
        # A shell's background job ignores SIGINT, and Python keeps it ignored; Ctrl-C is tested as
        # a terminal delivers it, however pytest itself was started.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_epoch(run_dir, proc, timeout=120):
    """Block until the run has saved its first epoch, then let it get into the second."""
    deadline = time.monotonic() + timeout
    while not (run_dir / "epoch-001.png").exists() or not (run_dir / "state.pt").exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the first epoch never finished"
        time.sleep(0.05)
    time.sleep(0.5)


def test_sigkill_mid_epoch_then_resume_finishes_the_run(tmp_path):
    out, run_dir = tmp_path / "out", tmp_path / "run"
    proc = start(out, run_dir, 3)
    wait_for_epoch(run_dir, proc)
    proc.kill()
    proc.wait()
    assert load_model(out, "cpu").family == "vae"  # the last completed epoch, whole
    assert json.loads((out / "config.json").read_text())["training"]["epochs"] in (1, 2)

    resumed = start(out, run_dir, 3, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    assert json.loads((out / "config.json").read_text())["training"]["epochs"] == 3
    load_model(out, "cpu")
    assert not [p.name for p in (*out.iterdir(), *run_dir.iterdir()) if p.name.endswith(".tmp")]


def test_ctrl_c_says_how_to_continue(tmp_path):
    out, run_dir = tmp_path / "out", tmp_path / "run"
    proc = start(out, run_dir, 3)
    wait_for_epoch(run_dir, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert "continue with --resume" in proc.stderr.read()
    assert load_model(out, "cpu").family == "vae"
