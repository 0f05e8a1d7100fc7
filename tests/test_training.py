"""Short real training runs on MNIST: the loss falls, checkpoints round-trip, runs resume."""

import json

import pytest
import torch

import training.train
from genviz import load_model
from genviz.models import build_model
from tests.conftest import FAMILIES, train_args
from training.train import STATE_FILE, TrainingError, build_parser, main, scheduled_lr, train


def untrained_like(run):
    """The model train() started from: same seed, same config."""
    torch.manual_seed(run.args.seed)
    return build_model(run.model.family, run.model.config).eval()


@pytest.mark.parametrize("family", ["ae", "dae", "vae"])
def test_loss_falls_on_held_out_images(trained, mnist_test, family):
    run = trained[family]
    x = mnist_test.float_images(slice(0, 256))
    torch.manual_seed(0)
    before = untrained_like(run).loss(x)["loss"].item()
    torch.manual_seed(0)
    after = run.model.eval().loss(x)["loss"].item()
    assert after < 0.6 * before, (before, after)


def test_classifier_learns_digits(trained, mnist_test):
    model = trained["classifier"].model.eval()
    x, labels = mnist_test.float_images(slice(0, 1000)), mnist_test.labels[:1000]
    accuracy = (model(x).argmax(1) == labels).float().mean().item()
    assert accuracy > 0.8, accuracy  # chance is 0.1; 64 steps on 2048 images


def test_gan_samples_move_towards_the_data(trained, mnist_test):
    """The generator's mean image approaches MNIST's mean digit (it starts as a grey blur)."""
    run = trained["gan"]
    data_mean = mnist_test.float_images(slice(0, 2000)).mean(0)
    g = torch.Generator().manual_seed(0)
    before = (untrained_like(run).sample(512, g).mean(0) - data_mean).pow(2).mean()
    after = (run.model.eval().sample(512, torch.Generator().manual_seed(0)).mean(0) - data_mean).pow(2).mean()
    assert after < 0.5 * before, (before, after)


def test_gan_inversion_finds_a_generated_image(trained):
    model = trained["gan"].model.eval().requires_grad_(False)
    target = model.decode(0.5 * torch.randn(4, model.latent_dim, generator=torch.Generator().manual_seed(2)))
    start = (model.decode(torch.zeros(4, model.latent_dim)) - target).pow(2).mean()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    z = model.encode(target, steps=200)
    assert (model.decode(z) - target).pow(2).mean() < 0.2 * start
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())  # weights untouched


@pytest.mark.parametrize("family", FAMILIES)
def test_checkpoint_reproduces_the_trained_model_exactly(trained, mnist_test, family):
    run = trained[family]
    model = run.model.eval()
    loaded = load_model(run.args.out, device="cpu")
    x = mnist_test.float_images(slice(0, 16))
    if family == "classifier":
        assert torch.equal(loaded(x), model(x))
    else:
        z = torch.randn(16, model.latent_dim, generator=torch.Generator().manual_seed(0))
        assert torch.equal(loaded.decode(z), model.decode(z))
    if family not in ("gan", "classifier"):
        assert torch.equal(loaded.encode(x), model.encode(x))
    config = json.loads((run.args.out / "config.json").read_text())
    assert config["training"]["epochs"] == 2 and config["dataset"]["class_names"] == [str(i) for i in range(10)]
    assert (run.args.run_dir / "epoch-002.png").is_file() == (family != "classifier")  # no preview to draw


def test_cosine_schedule_decays_to_zero_and_resumes_exactly(tmp_path, monkeypatch):
    args = build_parser().parse_args(["--model", "ae", "--dataset", "x", "--out", "o", "--lr", "0.01"])
    args.lr_schedule = "cosine"
    assert [scheduled_lr(args, t) for t in (0, 0.5, 1)] == pytest.approx([0.01, 0.005, 0])
    straight = train(train_args(tmp_path / "a", tmp_path / "ra", "ae", 2, "--lr-schedule", "cosine"))
    last_lr = straight.optimizers["model"].param_groups[0]["lr"]
    assert 0 < last_lr < 0.01 * straight.args.lr  # the last of 64 steps runs near zero
    save_epoch = training.train.save_epoch

    def interrupt_after_first_epoch(run, *args):
        save_epoch(run, *args)
        if run.epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(training.train, "save_epoch", interrupt_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(train_args(tmp_path / "b", tmp_path / "rb", "ae", 2, "--lr-schedule", "cosine"))
    resumed = train(train_args(tmp_path / "b", tmp_path / "rb", "ae", 2, "--lr-schedule", "cosine", "--resume"))
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_classes_option_trains_on_those_classes_only(tmp_path):
    run = train(train_args(tmp_path / "one", tmp_path / "r1", "ae", 1, "--classes", "7"))
    assert len(run.data) == 2048 and set(run.data.labels.tolist()) == {7}
    with pytest.raises(TrainingError, match="no class 12"):
        train(train_args(tmp_path / "bad", tmp_path / "r2", "ae", 1, "--classes", "12"))


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    straight = train(train_args(tmp_path / "a", tmp_path / "ra", "vae", 2))
    train(train_args(tmp_path / "b", tmp_path / "rb", "vae", 1))
    resumed = train(train_args(tmp_path / "b", tmp_path / "rb", "vae", 2, "--resume"))
    assert resumed.epoch == 2
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    loaded = load_model(tmp_path / "b", "cpu")
    assert json.loads((tmp_path / "b" / "config.json").read_text())["training"]["epochs"] == 2
    assert not list((tmp_path / "b").glob("*.tmp")) and loaded.family == "vae"


def test_resume_refuses_a_different_model(tmp_path):
    train(train_args(tmp_path / "c", tmp_path / "rc", "ae", 1))
    with pytest.raises(TrainingError, match="--latent-dim"):
        train(train_args(tmp_path / "c", tmp_path / "rc", "ae", 2, "--resume", "--latent-dim", "4"))


def test_existing_checkpoint_is_not_overwritten_by_accident(trained, tmp_path):
    out = trained["ae"].args.out
    with pytest.raises(TrainingError, match="--resume .* --overwrite"):
        train(train_args(out, tmp_path / "r", "ae", 1))


def test_divergence_stops_and_keeps_the_last_good_epoch(tmp_path, capsys):
    out, run_dir = tmp_path / "d", tmp_path / "rd"
    train(train_args(out, run_dir, "vae", 1))
    good = load_model(out, "cpu").state_dict()
    code = main(train_args(out, run_dir, "vae", 3, "--resume", "--lr", "1e12"))
    assert code == 2
    assert "keeps epoch 1" in capsys.readouterr().err
    kept = load_model(out, "cpu").state_dict()
    assert all(torch.equal(good[k], kept[k]) for k in good)
    assert torch.load(run_dir / STATE_FILE, weights_only=True)["epoch"] == 1


def test_unwritable_output_is_refused_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TrainingError, match="cannot write"):
        train(train_args(blocker / "out", tmp_path / "r", "ae", 1))


def test_missing_dataset_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path))
    code = main(
        ["--model", "ae", "--dataset", "no-such-set", "--out", str(tmp_path / "o"), "--run-dir", str(tmp_path / "r")]
    )
    assert code == 2 and "no-such-set" in capsys.readouterr().err
