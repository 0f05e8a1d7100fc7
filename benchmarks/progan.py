"""ProGAN on MNIST: training images/s at each stage against the WGAN-GP, and the ablation of its tricks.

Speed: the trainer's step (`model.train_step` on `training.training_losses`, as `genviz train` prepares the model)
of a ProGAN held at each stage, stabilising and fading in, and of the WGAN-GP of the same latent size and width
on the same 28x28 images: its critic step per batch (a generator step every 5th), and the ProGAN's critic and
generator step per batch. Images/s counts the real images the critic sees, the unit both schedules count in.

Ablation: the ProGAN trained by `genviz.training.train_run` on the same images in the same order with each trick
off in turn (equalised learning rate, pixel norm, minibatch stddev, drift), and the WGAN-GP not grown (5 critic
steps per generator step, its default learning rate), on a short schedule; FID in `mnist-classifier`'s features
(genviz.evaluation, as the evaluator reports it) of 10,000 samples (--quick: 2,000) against the test set, after the
same images seen. One seed: differences of a few FID points are within seed noise on a schedule this short.
Run from the repo root:

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks.progan [--quick] [--threads 1] [--width 8 --stage-images 4000]

It prints two markdown tables and writes JSON to benchmarks/results/progan.json.
"""

import argparse
import json
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from genviz import best_device, load_model
from genviz.data import load_dataset
from genviz.evaluation import classifier_sample_metrics, draw_samples
from genviz.models import build_model
from genviz.training import TrainConfig, autocast_for, model_config, prepare_model, train_run, training_losses
from support.machine import machine

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "progan.json"
CLASSIFIER = Path(__file__).resolve().parent.parent / "checkpoints" / "mnist-classifier"
ABLATION = {  # label -> (model, its settings)
    "all tricks (the paper's)": ("progan", {}),
    "no equalised learning rate": ("progan", {"equalized_lr": False}),
    "no pixel norm": ("progan", {"pixel_norm": False}),
    "no minibatch stddev": ("progan", {"minibatch_stddev": False}),
    "no drift term": ("progan", {"drift": 0.0}),
    "wgan-gp, not grown (baseline)": ("wgan-gp", {}),
}


def build(name: str, latent_dim: int, width: int, device: torch.device, settings: dict | None = None):
    """A seeded model as `genviz train --model NAME` builds and prepares it, and its optimisers and losses."""
    torch.manual_seed(0)
    config = TrainConfig(name, "mnist", Path("unused"), latent_dim=latent_dim, width=width, settings=settings or {})
    model = prepare_model(build_model(*model_config(config, (1, 28, 28), 10)), device)
    return model, model.make_optimizers(config.lr or model.default_lr), training_losses(model, device)


def images_per_second(model, optimizers, losses, batches: list[torch.Tensor], warmup: int, hold=None) -> float:
    """Real images per second through `train_step` over `batches` after `warmup` untimed steps; `hold` puts the
    model back at its stage before each step (a ProGAN would otherwise move on through its schedule)."""
    labels, autocast = torch.zeros(len(batches[0]), dtype=torch.long), autocast_for(torch.device("cpu"), False)
    for i, x in enumerate(batches):
        if i == warmup:
            start = time.perf_counter()
        if hold:
            hold()
        model.train_step(losses, optimizers, x, labels.to(x.device), autocast)
    if batches[0].device.type == "cuda":
        torch.cuda.synchronize()
    return (len(batches) - warmup) * len(batches[0]) / (time.perf_counter() - start)


def speed(data, args, device: torch.device) -> list[dict]:
    batches = [
        data.float_images(slice(i * args.batch_size, (i + 1) * args.batch_size)).to(device)
        for i in range(args.warmup + args.steps)
    ]
    rows = []
    model, optimizers, losses = build("wgan-gp", args.latent_dim, args.width, device)
    wgan = images_per_second(model, optimizers, losses, batches, args.warmup)
    size = sum(p.numel() for p in model.parameters())
    rows.append(
        {"model": "wgan-gp (5 critic steps per generator step)", "stage": "28x28", "images_s": wgan, "params": size}
    )
    model, optimizers, losses = build("progan", args.latent_dim, args.width, device, {"stage_images": 1000})
    size = sum(p.numel() for p in model.parameters())
    for phase in range(model.phases):
        stage, fading = (phase + 1) // 2, phase % 2 == 1
        seen = phase * 1000 + (500 if fading else 0)  # halfway through a fade-in: both paths computed

        def hold(seen=seen):
            model.images_seen.fill_(seen)
            model.follow_schedule()

        r = model.config.resolutions[stage]
        rate = images_per_second(model, optimizers, losses, batches, args.warmup, hold)
        label = f"{r}x{r}" + (" fading in" if fading else "")
        rows.append(
            {"model": "progan (1 critic step per generator step)", "stage": label, "images_s": rate, "params": size}
        )
    for row in rows:
        row["vs_wgan_gp"] = row["images_s"] / wgan
    return rows


def stage(model) -> str:
    return f"{model.resolution}x{model.resolution}" + (
        f" fading in, alpha {model.alpha:.2f}" if model.alpha < 1 else ""
    )


def ablation(args, device: torch.device, classifier, test, train_images: int) -> list[dict]:
    rows = []
    epochs = -(-args.images // train_images)  # the same first images each epoch, as many as the schedule needs
    for label, (name, settings) in ABLATION.items():
        grown = name == "progan"
        with tempfile.TemporaryDirectory(prefix="progan-ablation-") as folder:
            schedule = {"stage_images": args.stage_images} if grown else {}
            config = TrainConfig(
                name, "mnist", Path(folder) / "out", epochs=epochs, latent_dim=args.latent_dim, width=args.width,
                batch_size=args.batch_size, limit=args.images // epochs, device=str(device), threads=args.threads,
                run_dir=Path(folder) / "run", settings=schedule | settings,
            )  # fmt: skip
            start = time.perf_counter()
            run = train_run(config, "benchmarks.progan")
            seconds = time.perf_counter() - start
            model = load_model(run.out, device)
            samples, _ = draw_samples(model, args.samples, 500, 10)
            figures = classifier_sample_metrics(samples, classifier, test, 500, None)
        rows.append(
            {
                "ablation": label,
                "images_seen": epochs * (len(run.data) // args.batch_size * args.batch_size),
                "final_stage": stage(model) if grown else "28x28",
                "fid_classifier": figures["sample_fid_classifier"],
                "precision": figures["sample_precision"],
                "recall": figures["sample_recall"],
                "min_class_share": figures["sample_min_class_share"],
                "seconds": seconds,
            }
        )
        print(f"  {label}: FID {figures['sample_fid_classifier']:.1f} ({seconds:.0f} s)", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    keys = list(rows[0])

    def cell(v) -> str:
        return f"{v:.3g}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)

    return "\n".join(
        [f"| {' | '.join(keys)} |", f"|{'---|' * len(keys)}"]
        + [f"| {' | '.join(cell(r[k]) for k in keys)} |" for r in rows]
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.progan", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="10 timed steps; the ablation on 9,000 images, 1,500 a phase, 2,000 samples",
    )
    p.add_argument(
        "--stage-images",
        type=int,
        default=None,
        help="the ablation's images a phase (default 20,000; --quick 1,500); 7 phases are trained (--quick: 6)",
    )
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--width", type=int, default=16, help="channels at 32x32 (ProGAN) and of the first conv (WGAN-GP)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's)")
    p.add_argument("--device", default=None)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.warmup, args.steps = (2, 8) if args.quick else (5, 40)
    args.stage_images = args.stage_images or (1500 if args.quick else 20_000)
    # 4x4, then 8 and 16 faded in and stabilised, 32 faded in (--quick ends there), then 32 stabilised
    args.images = (6 if args.quick else 7) * args.stage_images
    args.samples = 2000 if args.quick else 10_000
    device = best_device(args.device)
    data, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    classifier = load_model(CLASSIFIER, device)
    print("speed (images/s the critic sees)", flush=True)
    rows = speed(data, args, device)
    print(table(rows), flush=True)
    print(
        f"ablation: {args.images:,} images, {args.stage_images:,} a phase, FID of {args.samples:,} samples", flush=True
    )
    ablated = ablation(args, device, classifier, test, len(data))
    print(table(ablated))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(device),
        "settings": settings,
        "speed": rows,
        "ablation": ablated,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
