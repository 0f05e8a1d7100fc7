"""Short real training runs on MNIST: the loss falls, checkpoints round-trip, runs resume."""

import json
import math
import os
import shlex
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import torch

from genviz import load_model, training
from genviz.checkpoint import current_command
from genviz.models import REGISTRY, Family, GenerativeModel, ModelConfig, build_model, register, trained_families
from genviz.training import STATE_FILE, TrainConfig, TrainingError, model_config, train_model, train_run
from genviz.training.loop import scheduled_lr
from genviz.training.train import build_parser, main, train_config
from support.runs import FAMILIES, tiny_config, train_args

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def untrained_like(run):
    """The model train_run() started from: same seed, same config."""
    torch.manual_seed(run.config.seed)
    return build_model(run.model.family, run.model.config).eval()


@pytest.mark.parametrize("family", ["ae", "dae", "vae"])
@pytest.mark.slow
def test_loss_falls_on_held_out_images(trained, mnist_test, family):
    run = trained[family]
    x = mnist_test.float_images(slice(0, 256))
    torch.manual_seed(0)
    before = untrained_like(run).loss(x)["loss"].item()
    torch.manual_seed(0)
    after = run.model.eval().loss(x)["loss"].item()
    assert after < 0.6 * before, (before, after)


@pytest.mark.slow
def test_classifier_learns_digits(trained, mnist_test):
    model = trained["classifier"].model.eval()
    x, labels = mnist_test.float_images(slice(0, 1000)), mnist_test.labels[:1000]
    accuracy = (model(x).argmax(1) == labels).float().mean().item()
    assert accuracy > 0.8, accuracy  # chance is 0.1; 64 steps on 2048 images


@pytest.mark.slow
def test_gan_samples_move_towards_the_data(trained, mnist_test):
    """The generator's mean image approaches MNIST's mean digit (it starts as a grey blur)."""
    run = trained["gan"]
    data_mean = mnist_test.float_images(slice(0, 2000)).mean(0)
    g = torch.Generator().manual_seed(0)
    before = (untrained_like(run).sample(512, g).mean(0) - data_mean).pow(2).mean()
    after = (run.model.eval().sample(512, torch.Generator().manual_seed(0)).mean(0) - data_mean).pow(2).mean()
    assert after < 0.5 * before, (before, after)


@pytest.mark.slow
def test_gan_inversion_finds_a_generated_image(trained):
    model = trained["gan"].model.eval().requires_grad_(False)
    target = model.decode(0.5 * torch.randn(4, model.latent_dim, generator=torch.Generator().manual_seed(2)))
    start = (model.decode(torch.zeros(4, model.latent_dim)) - target).pow(2).mean()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    z = model.encode(target, steps=200)
    assert (model.decode(z) - target).pow(2).mean() < 0.2 * start
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())  # weights untouched


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.slow
def test_checkpoint_reproduces_the_trained_model_exactly(trained, mnist_test, family):
    run = trained[family]
    model = run.model.eval()
    loaded = load_model(run.out, device="cpu")
    x = mnist_test.float_images(slice(0, 16))
    if family == "classifier":
        assert torch.equal(loaded(x), model(x))
    else:
        z = torch.randn(16, model.latent_dim, generator=torch.Generator().manual_seed(0))
        assert torch.equal(loaded.decode(z), model.decode(z))
    if family not in ("gan", "classifier"):
        assert torch.equal(loaded.encode(x), model.encode(x))
    config = json.loads((run.out / "config.json").read_text())
    assert config["training"]["epochs"] == 2 and config["dataset"]["class_names"] == [str(i) for i in range(10)]
    assert (run.config.run_dir / "epoch-002.png").is_file() == (family != "classifier")  # no preview to draw


@pytest.mark.slow
def test_cosine_schedule_decays_to_zero_and_resumes_exactly(tmp_path, monkeypatch):
    config = TrainConfig(model="ae", dataset="x", out="o", lr=0.01, lr_schedule="cosine")
    assert [scheduled_lr(config, t) for t in (0, 0.5, 1)] == pytest.approx([0.01, 0.005, 0])
    straight = train_run(tiny_config(tmp_path / "a", tmp_path / "ra", "ae", 2, lr_schedule="cosine"))
    last_lr = straight.optimizers["model"].param_groups[0]["lr"]
    assert 0 < last_lr < 0.01 * straight.config.lr  # the last of 64 steps runs near zero
    save_epoch = training.loop.save_epoch

    def interrupt_after_first_epoch(run, *args):
        save_epoch(run, *args)
        if run.epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(training.loop, "save_epoch", interrupt_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_run(tiny_config(tmp_path / "b", tmp_path / "rb", "ae", 2, lr_schedule="cosine"))
    resumed = train_run(tiny_config(tmp_path / "b", tmp_path / "rb", "ae", 2, lr_schedule="cosine", resume=True))
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


@pytest.mark.slow
def test_classes_option_trains_on_those_classes_only(tmp_path):
    run = train_run(tiny_config(tmp_path / "one", tmp_path / "r1", "ae", 1, classes=[7]))
    assert len(run.data) == 2048 and set(run.data.labels.tolist()) == {7}
    with pytest.raises(TrainingError, match="no class 12"):
        train_run(tiny_config(tmp_path / "bad", tmp_path / "r2", "ae", 1, classes=[12]))


@pytest.mark.slow
def test_resume_continues_exactly_where_it_stopped(tmp_path):
    straight = train_run(tiny_config(tmp_path / "a", tmp_path / "ra", "vae", 2))
    train_run(tiny_config(tmp_path / "b", tmp_path / "rb", "vae", 1))
    resumed = train_run(tiny_config(tmp_path / "b", tmp_path / "rb", "vae", 2, resume=True))
    assert resumed.epoch == 2
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    loaded = load_model(tmp_path / "b", "cpu")
    training = json.loads((tmp_path / "b" / "config.json").read_text())["training"]
    assert training["epochs"] == 2 and len(training["loss_by_epoch"]) == 2
    assert resumed.history == pytest.approx(straight.history, rel=1e-6)  # the first epoch's loss kept in the state
    assert not list((tmp_path / "b").glob("*.tmp")) and loaded.family == "vae"


@pytest.mark.slow
def test_resume_refuses_a_different_model(tmp_path):
    train_run(tiny_config(tmp_path / "c", tmp_path / "rc", "ae", 1))
    with pytest.raises(TrainingError, match="--latent-dim"):
        train_run(tiny_config(tmp_path / "c", tmp_path / "rc", "ae", 2, resume=True, latent_dim=4))


@pytest.mark.slow
def test_existing_checkpoint_is_not_overwritten_by_accident(trained, tmp_path):
    out = trained["ae"].out
    with pytest.raises(TrainingError, match="--resume .* --overwrite"):
        train_run(tiny_config(out, tmp_path / "r", "ae", 1))


@pytest.mark.slow
def test_divergence_stops_and_keeps_the_last_good_epoch(tmp_path, capsys):
    out, run_dir = tmp_path / "d", tmp_path / "rd"
    train_run(tiny_config(out, run_dir, "vae", 1))
    good = load_model(out, "cpu").state_dict()
    code = main(train_args(out, run_dir, "vae", 3, "--resume", "--lr", "1e12"))
    assert code == 2
    assert "keeps epoch 1" in capsys.readouterr().err
    kept = load_model(out, "cpu").state_dict()
    assert all(torch.equal(good[k], kept[k]) for k in good)
    assert torch.load(run_dir / STATE_FILE, weights_only=True)["epoch"] == 1


def no_training(monkeypatch):
    """Make loading the data fail the test: what is checked "before training" must stop before it."""

    def load_dataset(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(training.loop, "load_dataset", load_dataset)


@pytest.mark.parametrize("which", ["out", "run_dir"])
def test_unwritable_output_is_refused_before_training(tmp_path, monkeypatch, which):
    """A folder under a regular file cannot be made (ENOTDIR), even by root, whom chmod does not stop."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    folders = {"out": tmp_path / "o", "run_dir": tmp_path / "r"} | {which: blocker / "sub"}
    no_training(monkeypatch)
    with pytest.raises(TrainingError, match=f"cannot write to {blocker / 'sub'}: Not a directory"):
        train_run(tiny_config(folders["out"], folders["run_dir"], "ae", 1))


def test_a_nearly_full_disk_is_refused_before_training(tmp_path, monkeypatch):
    from types import SimpleNamespace

    free = training.saving.MIN_FREE_BYTES - (1 << 20)
    usage = SimpleNamespace(total=1 << 40, used=(1 << 40) - free, free=free)
    monkeypatch.setattr(training.saving.shutil, "disk_usage", lambda path: usage)
    no_training(monkeypatch)
    with pytest.raises(TrainingError, match=r"only 199 MiB free on the disk holding .*needs at least 200 MiB"):
        train_run(tiny_config(tmp_path / "o", tmp_path / "r", "ae", 1))


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--batch-size", "0"), "--batch-size must be at least 1"),
        (("--epochs", "0"), "--epochs must be at least 1"),
        (("--lr", "-1"), "--lr must be positive"),
        (("--width", "0"), "make no model: latent_dim and width must be positive"),
        (("--width", "100000"), "larger than genviz opens"),  # refused before it is allocated
    ],
)
def test_settings_that_cannot_train_are_refused_with_a_reason(tmp_path, capsys, extra, message):
    assert main(train_args(tmp_path / "o", tmp_path / "r", "ae", 1, *extra)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o" / "model.safetensors").exists()


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    """A finished 1-epoch VAE run: (checkpoint folder, run folder), to be copied before use."""
    root = tmp_path_factory.mktemp("one-epoch")
    train_run(tiny_config(root / "out", root / "run", "vae", 1))
    return root / "out", root / "run"


def copy_run(one_epoch, tmp_path):
    import shutil

    out, run_dir = tmp_path / "out", tmp_path / "run"
    shutil.copytree(one_epoch[0], out)
    shutil.copytree(one_epoch[1], run_dir)
    return out, run_dir


class Payload:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def pickle_payload(path, marker):
    import pickle

    with open(path, "wb") as f:
        pickle.dump({"args": Payload(marker)}, f)


def torch_payload(path, marker):
    torch.save({"args": Payload(marker)}, path)  # a zip of a pickle, as state.pt is


def truncate(path, marker):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def other_model(path, marker):
    state = torch.load(path, weights_only=True)
    state["model"] = {"weight": torch.zeros(3)}
    torch.save(state, path)


DAMAGED_STATES = {
    "pickle payload": (pickle_payload, "refused: it holds objects other than tensors"),
    "torch.save payload": (torch_payload, "refused: it holds objects other than tensors"),
    "truncated": (truncate, "damaged, cannot be read"),
    "zero bytes": (lambda path, marker: path.write_bytes(b""), "damaged, cannot be read"),
    "a tensor": (lambda path, marker: torch.save(torch.zeros(3), path), "not a genviz training state"),
    "another model's": (other_model, "does not fit this run"),
}


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's note on the raw pickle
@pytest.mark.parametrize("case", DAMAGED_STATES)
@pytest.mark.slow
def test_resume_refuses_a_damaged_or_hostile_state_and_runs_no_code(one_epoch, tmp_path, capsys, case):
    damage, message = DAMAGED_STATES[case]
    out, run_dir = copy_run(one_epoch, tmp_path)
    marker = tmp_path / "payload-ran"
    damage(run_dir / STATE_FILE, marker)
    assert main(train_args(out, run_dir, "vae", 2, "--resume")) == 2
    err = capsys.readouterr().err
    assert f"{run_dir / STATE_FILE}: {message}" in err and "--overwrite in place of --resume" in err
    assert "weights_only" not in err  # torch's advice to load it unsafely is not passed on
    assert not marker.exists()
    assert json.loads((out / "config.json").read_text())["training"]["epochs"] == 1  # the checkpoint untouched


def file_size_limit(limit: int):
    """For a child process: writes past `limit` bytes into any file fail with EFBIG, as on a full
    disk (SIGXFSZ, which would kill the process instead, ignored)."""
    import resource
    import signal

    def limit_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_files


@pytest.mark.skipif(os.name != "posix", reason="uses POSIX resource limits")
@pytest.mark.parametrize("fails", ["checkpoint", "resume state"])
@pytest.mark.slow
def test_a_disk_that_fills_up_during_training_stops_it_cleanly(one_epoch, tmp_path, fails):
    """A real failed write, no mocks: epoch 2 runs with a file-size limit below the size of the
    weights (or between them and the larger resume state). The run stops with exit code 2 and a
    message saying what was kept and how to go on; following it finishes the run."""
    import subprocess
    import sys

    out, run_dir = copy_run(one_epoch, tmp_path)
    weights, state = (out / "model.safetensors").stat().st_size, (run_dir / STATE_FILE).stat().st_size
    limit = weights // 3 if fails == "checkpoint" else (weights + state) // 2
    assert 20_000 < limit < state  # above the config, card and preview; below what must fail
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "genviz.training.train",
            *train_args(out, run_dir, "vae", 2, "--resume", "--threads", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=file_size_limit(limit),
    )
    assert proc.returncode == 2, proc.stderr
    saved = 1 if fails == "checkpoint" else 2
    if fails == "checkpoint":
        said = f"could not save epoch 2 to {out}: File too large. {out} still holds epoch 1, whole."
    else:
        said = f"saved epoch 2 to {out}, but could not write the resume state in {run_dir}: File too large."
        said += " --resume would continue from epoch 1 and train epoch 2 again."
    assert said + " Free some disk space, then continue with --resume." in proc.stderr
    assert "Traceback" not in proc.stderr
    assert load_model(out, "cpu").family == "vae"
    assert json.loads((out / "config.json").read_text())["training"]["epochs"] == saved
    assert torch.load(run_dir / STATE_FILE, weights_only=True)["epoch"] == 1
    assert not [p for p in (*out.iterdir(), *run_dir.iterdir()) if p.name.endswith(".tmp")]

    resumed = train_run(tiny_config(out, run_dir, "vae", 2, resume=True))  # space freed: as the message says
    assert resumed.epoch == 2
    assert json.loads((out / "config.json").read_text())["training"]["epochs"] == 2


def test_missing_dataset_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path))
    code = main(
        ["--model", "ae", "--dataset", "no-such-set", "--out", str(tmp_path / "o"), "--run-dir", str(tmp_path / "r")]
    )
    assert code == 2 and "no-such-set" in capsys.readouterr().err


def test_fused_adam_takes_the_same_steps_as_the_default_loop():
    """The models' make_optimizers' fused Adam on the CPU is Adam: a few steps land where the per-parameter
    loop lands."""
    from contextlib import nullcontext

    from genviz.models import VAEConfig

    torch.manual_seed(0)
    fused_model = build_model("vae", VAEConfig(latent_dim=4, width=8))
    loop_model = build_model("vae", fused_model.config)
    loop_model.load_state_dict(fused_model.state_dict())
    fused = fused_model.make_optimizers(1e-3)
    assert fused["model"].param_groups[0]["fused"]
    looped = {"model": torch.optim.Adam(loop_model.parameters(), lr=1e-3)}
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    for model, optimizers in ((fused_model, fused), (loop_model, looped)):
        torch.manual_seed(2)  # the same reparameterisation noise on both sides
        for _ in range(3):
            model.train_step(training.training_losses(model, x.device), optimizers, x, None, nullcontext())
    for (name, a), b in zip(fused_model.state_dict().items(), loop_model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.slow
def test_cpu_training_uses_channels_last_but_returns_a_model_as_loaded(trained):
    conv = next(m for m in trained["vae"].model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous()  # back in the default layout, as load_model builds it
    prepared = training.prepare_model(untrained_like(trained["vae"]), torch.device("cpu"))
    conv = next(m for m in prepared.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()


@pytest.mark.slow
def test_amp_is_off_on_the_cpu_unless_asked_and_then_as_good_as_float32(trained, mnist_test, tmp_path):
    """--amp on the CPU trains in bf16 where the CPU has it natively, to a held-out loss close to
    the float32 run's with the same settings (trained["vae"]); elsewhere it is refused."""
    cpu = torch.device("cpu")
    assert not training.mixed_precision(None, cpu) and not training.mixed_precision(False, cpu)
    config = tiny_config(tmp_path / "o", tmp_path / "r", "vae", 2, amp=True)
    if not training.native_bf16(cpu):
        with pytest.raises(TrainingError, match="--amp needs bf16"):
            train_run(config)
        return
    bf16 = train_run(config).model.eval()
    assert json.loads((tmp_path / "o" / "config.json").read_text())["training"]["mixed_precision"] == "bf16"
    assert all(p.dtype == torch.float32 for p in bf16.parameters())  # autocast keeps float32 weights
    x = mnist_test.float_images(slice(0, 256))
    torch.manual_seed(0)
    float32_loss = trained["vae"].model.eval().loss(x)["loss"].item()
    torch.manual_seed(0)
    bf16_loss = bf16.loss(x)["loss"].item()
    assert bf16_loss == pytest.approx(float32_loss, rel=0.05), (bf16_loss, float32_loss)


def test_threads_must_be_positive(tmp_path):
    with pytest.raises(TrainingError, match="--threads"):
        train_run(tiny_config(tmp_path / "o", tmp_path / "r", "ae", 1, threads=0))


@dataclass
class TinyConfig(ModelConfig):
    scale: float = 1.0  # multiplies the decoder's logits: a setting only this family has

    @property
    def kind(self) -> str:
        return "tiny"

    @property
    def display_name(self) -> str:
        return "tiny linear autoencoder"


class Tiny(GenerativeModel):
    """A family the trainer has never seen: a linear autoencoder, defined here and nowhere else."""

    family = "tiny"

    def __init__(self, config: TinyConfig):
        super().__init__()
        self.config = config
        pixels = math.prod(config.image_shape)
        self.encoder = torch.nn.Linear(pixels, config.latent_dim)
        self.decoder = torch.nn.Linear(config.latent_dim, pixels)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))  # (B, latent_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.config.scale * self.decoder(z)).view(-1, *self.config.image_shape)

    def loss(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return {"loss": torch.nn.functional.mse_loss(self.decode(self.encode(batch)), batch)}


@pytest.fixture
def tiny_family():
    """`Tiny` registered as family "tiny", variant "tiny" (scale 2), for one test."""
    register("tiny", Family(Tiny, TinyConfig, {"tiny": {"scale": 2.0}}))
    try:
        yield
    finally:
        REGISTRY.pop("tiny")


def test_a_new_family_trains_through_train_model_with_no_trainer_edit(tiny_family, mnist_test, tmp_path):
    config = tiny_config(
        tmp_path / "out", tmp_path / "run", "tiny", 1, latent_dim=None, lr=1e-2, settings={"scale": 0.5}
    )
    torch.manual_seed(0)
    untrained = Tiny(TinyConfig(latent_dim=16, width=16, scale=0.5)).eval()
    run = train_run(config)
    assert run.out == tmp_path / "out" and train_model(replace(config, overwrite=True)) == run.out
    loaded = load_model(run.out, "cpu")
    assert type(loaded) is Tiny and loaded.config == TinyConfig(latent_dim=16, width=16, scale=0.5)
    x = mnist_test.float_images(slice(0, 256))
    assert torch.equal(loaded.decode(loaded.encode(x)), run.model.eval().decode(run.model.encode(x)))
    assert loaded.loss(x)["loss"] < 0.6 * untrained.loss(x)["loss"]
    training_card = json.loads((run.out / "config.json").read_text())["training"]
    assert training_card["command"].startswith("genviz.training.train_model(genviz.training.TrainConfig(model='tiny'")
    assert "settings={'scale': 0.5}" in training_card["command"]
    assert not list((tmp_path / "run").glob("*.png"))  # no preview: Tiny shows none
    # The command line offers the variant too, and a setting it has no flag for is refused by name.
    assert build_parser().parse_args(["--model", "tiny", "--dataset", "mnist", "--out", "o"]).model == "tiny"
    with pytest.raises(TrainingError, match="a tiny model has no setting 'beta'; its settings: scale"):
        train_run(replace(config, overwrite=True, settings={"beta": 4.0}))


# The models genviz trained; a brought one (family onnx) records the command that brought it (tests/test_shipped.py).
TRAINED_HERE = sorted(
    p.parent.name
    for p in CHECKPOINTS.glob("*/config.json")
    if json.loads(p.read_text())["family"] in trained_families()
)


@pytest.mark.parametrize("folder", TRAINED_HERE)
def test_the_shipped_commands_still_make_their_models(folder):
    recorded = json.loads((CHECKPOINTS / folder / "config.json").read_text())
    # Recorded as `python -m training.train ...` before genviz was a package; the card shows what runs today.
    argv = shlex.split(current_command(recorded["training"]["command"]))
    assert argv[:2] == ["genviz", "train"] and shlex.join(argv) in (CHECKPOINTS / folder / "README.md").read_text()
    config = train_config(argv[2:])
    image_shape, classes = tuple(recorded["model"]["image_shape"]), len(recorded["dataset"]["class_names"])
    family, made = model_config(config, image_shape, classes)
    assert family == recorded["family"] and made == REGISTRY[family].config(**recorded["model"])


@pytest.mark.parametrize(
    "flags, family, settings",
    [
        ("--model ae --noise salt-pepper --beta 4", "ae", {"corruption": "none", "noise_level": 0.5}),
        ("--model dae --noise salt-pepper --noise-level 0.2", "ae", {"corruption": "salt-pepper", "noise_level": 0.2}),
        ("--model vae --beta 4 --likelihood gaussian --noise mask", "vae", {"beta": 4.0, "likelihood": "gaussian"}),
        ("--model gan --gan-loss hinge --reconstruction bce", "gan", {"objective": "hinge"}),
        ("--model ae --reconstruction bce", "ae", {"reconstruction": "bce"}),
    ],
)
def test_model_flags_set_the_fields_of_the_family_config(flags, family, settings):
    config = train_config([*flags.split(), "--dataset", "mnist", "--out", "o"])
    found, made = model_config(config, (1, 28, 28), 10)
    assert found == family and {k: getattr(made, k) for k in settings} == settings
