"""Training interrupted by a real signal loses at most the epoch in progress."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from genviz import load_model
from genviz.training import STATE_FILE
from support.runs import train_args

pytestmark = [pytest.mark.skipif(os.name != "posix", reason="uses POSIX signals"), pytest.mark.slow]

CHECKPOINT_FILES = {"config.json", "model.safetensors", "metrics.json", "README.md"}
STEPS = 32  # a training step per 64 of train_args' 2048 images

# training.train, stopped (SIGSTOP) at a chosen point so that the test can signal it there, not
# after a guessed delay: argv[1:3] = "step", n: in its nth training step (VAE.loss call);
# or a file name, n: just before its nth rename onto that name, every temp file of that save
# written and none renamed into place.
PAUSED_TRAINING = """
import os, runpy, signal, sys
from genviz.models.vae import VAE

where, nth = sys.argv[1], int(sys.argv[2])
replace, loss, calls = os.replace, VAE.loss, []


def pause_if(hit):
    calls.extend([None] * hit)
    if hit and len(calls) == nth:
        os.kill(os.getpid(), signal.SIGSTOP)


def pausing_replace(src, dst):
    pause_if(os.path.basename(dst) == where)
    replace(src, dst)


def pausing_loss(self, batch, labels=None):
    pause_if(where == "step")
    return loss(self, batch, labels)


os.replace, VAE.loss = pausing_replace, pausing_loss
sys.argv = ["genviz.training.train", *sys.argv[3:]]
runpy.run_module("genviz.training.train", run_name="__main__", alter_sys=True)
"""


def start(out, run_dir, *extra, pause: tuple[str, int] | None = None):
    """A 3-epoch VAE run in a process of its own; `pause` as PAUSED_TRAINING takes it."""
    command = [sys.executable, "-m", "genviz.training.train"]
    if pause is not None:
        command = [sys.executable, "-c", PAUSED_TRAINING, pause[0], str(pause[1])]
    return subprocess.Popen(
        [*command, *train_args(out, run_dir, "vae", 3, "--threads", "1", *extra)],
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
        # A shell's background job ignores SIGINT, and Python keeps it ignored; Ctrl-C is tested as
        # a terminal delivers it, however pytest itself was started.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_until_paused(proc, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        pid, status = os.waitpid(proc.pid, os.WUNTRACED | os.WNOHANG)
        if pid:
            assert os.WIFSTOPPED(status), f"the run ended before the pause: {proc.stderr.read()}"
            return
        assert time.monotonic() < deadline, "the run never reached the pause"
        time.sleep(0.05)


def kill_when_paused(proc):
    wait_until_paused(proc)
    proc.kill()
    proc.wait()


def temp_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


def check_killed_run(out, run_dir, saved: int, resumable: int):
    """The checkpoint folder holds its four files, whole, all of epoch `saved`, beside at most the
    hidden temp files of a killed write (the next run removes them); --resume starts after epoch
    `resumable`."""
    assert {p.name for p in out.iterdir()} - set(temp_files(out)) == CHECKPOINT_FILES
    assert load_model(out, "cpu").family == "vae"
    assert json.loads((out / "config.json").read_text())["training"]["epochs"] == saved
    assert json.loads((out / "metrics.json").read_text()) == {}
    assert f"| epochs | {saved} |" in (out / "README.md").read_text()
    assert torch.load(run_dir / STATE_FILE, weights_only=True)["epoch"] == resumable


def test_sigkill_at_any_point_then_resume_finishes_the_run(tmp_path):
    out, run_dir = tmp_path / "out", tmp_path / "run"

    # 1. Killed while saving epoch 2: its four files written beside epoch 1's, none renamed.
    kill_when_paused(start(out, run_dir, pause=("model.safetensors", 2)))
    assert [name.rsplit(".", 2)[0] for name in temp_files(out)] == [
        ".README.md",
        ".config.json",
        ".metrics.json",
        ".model.safetensors",
    ]  # the kill came mid-save; the files under the checkpoint's names are epoch 1's, whole
    check_killed_run(out, run_dir, saved=1, resumable=1)

    # 2. Resumed, then killed once epoch 2's checkpoint was saved, before its resume state was.
    kill_when_paused(start(out, run_dir, "--resume", pause=(STATE_FILE, 1)))
    assert not temp_files(out) and temp_files(run_dir)  # the run removed the stale temps it found
    check_killed_run(out, run_dir, saved=2, resumable=1)

    # 3. Resumed: epoch 2 again (from epoch 1's state), then killed in the middle of epoch 3.
    kill_when_paused(start(out, run_dir, "--resume", pause=("step", STEPS + STEPS // 2)))
    check_killed_run(out, run_dir, saved=2, resumable=2)

    # 4. Resumed to the end.
    resumed = start(out, run_dir, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    check_killed_run(out, run_dir, saved=3, resumable=3)
    assert not temp_files(out) and not temp_files(run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == ["epoch-001.png", "epoch-002.png", "epoch-003.png", STATE_FILE]


def test_ctrl_c_says_how_to_continue(tmp_path):
    out, run_dir = tmp_path / "out", tmp_path / "run"
    proc = start(out, run_dir, pause=("step", STEPS + STEPS // 2))  # in the middle of epoch 2
    wait_until_paused(proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    assert proc.wait(timeout=60) == 130
    assert "continue with --resume" in proc.stderr.read()
    check_killed_run(out, run_dir, saved=1, resumable=1)
    assert not temp_files(out) and not temp_files(run_dir)
