"""Training on two CPU processes with DistributedDataParallel (gloo), started by torchrun as a user would."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genviz import load_model
from genviz.data import load_dataset
from support.runs import train_args

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_FILES = {"config.json", "model.safetensors", "metrics.json", "README.md"}

# training.train_run, on the TrainConfig of a training command line, run by torchrun in each
# process, each of which then saves the weights it ended with (argv[1]-<rank>.pt): what the test
# compares across processes. The rest of argv is the training command's.
KEEP_WEIGHTS = """
import os, sys, torch
from genviz.training import train_run
from genviz.training.train import train_config

run = train_run(train_config(sys.argv[2:]))
torch.save(run.model.state_dict(), f"{sys.argv[1]}-{os.environ['RANK']}.pt")
"""


def torchrun(*command: str) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node 2 COMMAND`: two processes on this machine, one thread each."""
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    return subprocess.run([*launcher, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def train_keeping_weights(tmp_path: Path, args: list[str]) -> list[dict[str, torch.Tensor]]:
    """Train with `args` on two processes; each process's final weights and buffers, by rank."""
    script = tmp_path / "keep_weights.py"
    script.write_text(KEEP_WEIGHTS)
    proc = torchrun(str(script), str(tmp_path / "weights"), *args, "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    return [torch.load(tmp_path / f"weights-{rank}.pt", weights_only=True) for rank in (0, 1)]


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        assert torch.equal(value, b[key]), key


@pytest.fixture(scope="module")
def vae_two_epochs(tmp_path_factory):
    """A 2-epoch VAE trained by two processes: (checkpoint folder, run folder, weights by rank)."""
    root = tmp_path_factory.mktemp("vae-ddp")
    weights = train_keeping_weights(root, train_args(root / "out", root / "run", "vae", 2))
    return root / "out", root / "run", weights


@pytest.mark.parametrize("family", ["vae", "gan", "dae", "classifier", "wgan-gp", "cvae"])
@pytest.mark.slow
def test_two_processes_end_with_the_same_model_and_write_one_checkpoint(vae_two_epochs, tmp_path, family):
    """Every family: both processes hold the same weights and buffers, and rank 0's checkpoint is them."""
    if family == "vae":
        out, run_dir, weights = vae_two_epochs
    else:
        out, run_dir = tmp_path / "out", tmp_path / "run"
        weights = train_keeping_weights(tmp_path, train_args(out, run_dir, family, 2, "--lr", "1e-3"))
    assert_same(weights[0], weights[1])  # parameters, and BatchNorm statistics averaged before each save
    assert {p.name for p in out.iterdir()} == CHECKPOINT_FILES
    previews = {"epoch-001.png", "epoch-002.png"} if family != "classifier" else set()
    assert {p.name for p in run_dir.iterdir()} == {"state.pt", *previews}
    loaded = load_model(out, "cpu")
    assert_same(loaded.state_dict(), weights[0])
    training = json.loads((out / "config.json").read_text())["training"]
    assert training["epochs"] == 2 and training["processes"] == 2
    assert training["batch_size"] == 64 and training["global_batch_size"] == 128
    torch.manual_seed(0)
    untrained = type(loaded)(loaded.config).state_dict()
    # It trained: every parameter moved but the WGAN-GP critic's output bias, which cancels in the critic's loss.
    fixed = {f"discriminator.{len(loaded.discriminator) - 1}.bias"} if family == "wgan-gp" else set()
    assert all(not torch.equal(untrained[k], weights[0][k]) for k, _ in loaded.named_parameters() if k not in fixed)


@pytest.mark.slow
def test_resume_on_two_processes_lands_where_an_unbroken_run_does(vae_two_epochs, tmp_path):
    out, run_dir = tmp_path / "out", tmp_path / "run"
    first = torchrun("-m", "genviz.training.train", *train_args(out, run_dir, "vae", 1, "--threads", "1"))
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("saved") == 1  # one epoch summary: only rank 0 saves and prints
    assert json.loads((out / "config.json").read_text())["training"]["epochs"] == 1
    weights = train_keeping_weights(tmp_path, train_args(out, run_dir, "vae", 2, "--resume"))
    assert_same(weights[0], weights[1])
    assert_same(weights[0], vae_two_epochs[2][0])  # each process's noise is seeded per epoch: --resume is exact
    assert_same(load_model(out, "cpu").state_dict(), weights[0])


@pytest.mark.slow
def test_a_divergence_stops_every_process(tmp_path):
    """The loss each process decides on is the mean over both, so both stop, none waits forever."""
    proc = torchrun(
        "-m", "genviz.training.train", *train_args(tmp_path / "o", tmp_path / "r", "vae", 2, "--lr", "1e12")
    )
    assert proc.returncode != 0
    assert "rank 0: error: training stopped in epoch 1" in proc.stderr
    assert "rank 1: error: training stopped in epoch 1" in proc.stderr
    assert not (tmp_path / "o" / "model.safetensors").exists()


def test_each_process_takes_its_own_shard_of_the_same_order():
    data = load_dataset("mnist", "train").take(103)
    shards = []
    for rank in range(3):
        generator = torch.Generator().manual_seed(5)
        batches = list(data.batches(10, shuffle=True, generator=generator, drop_last=True, rank=rank, world_size=3))
        assert len(batches) == 3  # 103 images: 34 per process, 3 full batches of 10 each
        shards.append(torch.cat([images for images, _ in batches]))
    order = torch.randperm(103, generator=torch.Generator().manual_seed(5))
    for rank, shard in enumerate(shards):
        assert torch.equal(shard, data.float_images(order[rank:102:3][:30]))
    single = list(data.batches(10, shuffle=True, generator=torch.Generator().manual_seed(5), drop_last=True))
    assert torch.equal(torch.cat([images for images, _ in single]), data.float_images(order[:100]))  # as before
