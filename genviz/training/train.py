"""Train an autoencoder (plain, denoising, sparse, contractive), a VAE or conditional VAE, a GAN, WGAN-GP or ProGAN,
or a classifier, and write a checkpoint folder.

    genviz train --model vae --dataset mnist --epochs 10 --out checkpoints/mnist-vae

After every epoch the checkpoint folder holds that epoch's model, and the run folder
(runs/<name>/ unless --run-dir says otherwise) holds the optimiser state for --resume and
a preview grid (not for a classifier). Every file is written atomically, so killing the run
loses at most the epoch in progress, and a disk that fills up stops the run with the last
saved epoch intact and a message saying how to continue.

Speed: Adam runs fused (one kernel over all parameters) on the CPU and CUDA, and the conv weights
are kept channels-last on the CPU and CUDA (--no-channels-last: not); both change nothing but float
rounding. bf16 mixed precision (--amp) changes the numerics more and is on by default only on a
CUDA GPU. --compile runs the loss through torch.compile (off by default: compiling takes tens of
seconds). --threads sets the CPU threads: on a machine shared with other busy processes, fewer
threads than cores can be several times faster, as threads wait for each other at every op.

Data: a dataset is held in memory (on the GPU when training on one) unless it is an image folder
whose decoded images would take more than a quarter of the machine's memory, or --stream says so:
then it is read from disk batch by batch, decoded in --workers DataLoader processes, in the same
seeded order as in memory.

Several processes, on one machine or several: torchrun starts them and this module notices
(WORLD_SIZE above 1) and trains with DistributedDataParallel, over nccl on GPUs (each process on
cuda:LOCAL_RANK) and gloo on CPUs:

    torchrun --nproc_per_node 4 -m genviz.training.train --model vae --dataset mnist --out checkpoints/mnist-vae

Each process trains on its own shard of every epoch's shuffled order (--batch-size images per
step, per process), DDP averages the gradients, and only rank 0 writes the checkpoint, the
previews and the resume state, and prints; --resume has every process read the same state.

This module is the command line of `genviz.training.train_model`: it builds a `genviz.training.TrainConfig`, whose
fields the flags name (`--batch-size` is `batch_size`), and the model settings flags (--noise,
--beta, ...) set fields of the model family's config, as SETTING_FLAGS lists.
"""

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

from genviz.models import REGISTRY, variants
from genviz.models.ae import CONTRACTION, SPARSITY
from genviz.noise import NOISE_KINDS
from genviz.training.config import TrainConfig, TrainingError
from genviz.training.distributed import processes
from genviz.training.loop import train_model

# The flags of model settings: flag, the family config field it sets, its argparse options. A flag
# applies to the variants whose family's config has the field; to a field the variant fixes, only
# where the fixed value is one of the flag's choices (dae's gaussian corruption, which --noise
# changes; not ae's "none") or a positive weight (sparse-ae's sparsity, which --sparsity tunes; not
# ae's 0), and it is ignored elsewhere. Unset, the field keeps the config's default.
# A new family's settings need a row here only to be set from the command line.
SETTING_FLAGS = (
    ("--noise", "corruption", {"choices": NOISE_KINDS, "help": "DAE corruption (default gaussian)"}),
    ("--noise-level", "noise_level", {"type": float, "help": "DAE: gaussian sigma or pixel fraction (default 0.5)"}),
    ("--reconstruction", "reconstruction", {"choices": ("mse", "bce"), "help": "AE/DAE reconstruction loss"}),
    (
        "--sparsity",
        "sparsity",
        {"type": float, "help": f"sparse AE: weight of the code's L1 penalty (default {SPARSITY:g})"},
    ),
    (
        "--contraction",
        "contraction",
        {"type": float, "help": f"contractive AE: weight of the encoder Jacobian penalty (default {CONTRACTION:g})"},
    ),
    ("--beta", "beta", {"type": float, "help": "VAE: weight of the KL term (default 1)"}),
    (
        "--free-bits",
        "free_bits",
        {"type": float, "help": "VAE: nats of KL per latent dimension left unpenalised, against posterior collapse"},
    ),
    ("--likelihood", "likelihood", {"choices": ("bernoulli", "gaussian"), "help": "VAE decoder"}),
    ("--gan-loss", "objective", {"choices": ("nonsaturating", "hinge"), "help": "GAN objective"}),
    ("--critic-steps", "critic_steps", {"type": int, "help": "WGAN-GP: critic steps per generator step (default 5)"}),
    (
        "--gradient-penalty",
        "gradient_penalty",
        {"type": float, "help": "WGAN-GP: weight of the critic's gradient penalty (default 10)"},
    ),
    (
        "--stage-images",
        "stage_images",
        {"type": int, "help": "ProGAN: real images per fade-in and per stabilisation (default 800000)"},
    ),
    ("--drift", "drift", {"type": float, "help": "ProGAN: weight of the critic's drift term (default 0.001)"}),
    (
        "--equalized-lr",
        "equalized_lr",
        {"action": argparse.BooleanOptionalAction, "help": "ProGAN: equalised learning rate (default on)"},
    ),
    (
        "--pixel-norm",
        "pixel_norm",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "ProGAN: pixelwise feature norm in the generator (default on)",
        },
    ),
    (
        "--minibatch-stddev",
        "minibatch_stddev",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "ProGAN: minibatch standard deviation in the critic (default on)",
        },
    ),
    (
        "--label-weight",
        "label_weight",
        {"type": float, "help": "CVAE: weight of the encoder's class cross-entropy (default 1)"},
    ),
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genviz train", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, choices=tuple(variants()))
    p.add_argument(
        "--dataset", required=True, help="mnist, fashion-mnist, cifar10, or an image folder under the data root"
    )
    p.add_argument("--out", required=True, type=Path, help="checkpoint folder to write")
    p.add_argument("--epochs", type=int, default=10, help="total epochs (with --resume: including those done)")
    p.add_argument("--latent-dim", type=int, default=None, help="size of z (default 16; classifier features: 128)")
    p.add_argument("--width", type=int, default=None, help="channels of the first conv layer (default 32)")
    p.add_argument("--batch-size", type=int, default=128, help="images per step and per process (under torchrun)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 1e-3; GAN 2e-4; WGAN-GP 1e-4)")
    p.add_argument(
        "--lr-schedule",
        choices=("constant", "cosine"),
        default="constant",
        help="cosine: decay the learning rate to zero over --epochs (Loshchilov & Hutter 2017)",
    )
    p.add_argument("--seed", type=int, default=0)
    for flag, _, options in SETTING_FLAGS:
        p.add_argument(flag, default=None, **options)
    p.add_argument("--image-size", type=int, default=None, help="resize image-folder datasets to this square size")
    p.add_argument(
        "--classes", type=int, nargs="+", default=None, help="train on these class indices only (one-class models)"
    )
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="image folders: read from disk batch by batch, decoded in --workers processes (--no-stream: "
        "decode into memory). Default: stream when the decoded images would take over a quarter of the memory",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="with --stream: DataLoader processes that decode images (default: min(4, CPUs per process); "
        "0 decodes in the training process)",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: the best available)")
    p.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bf16 mixed precision (torch.autocast). Default: on for a CUDA GPU with bf16, off on the CPU. "
        "--amp on a CPU needs native bf16 (AVX512-BF16 or AMX): about 1.9x the images/s of the conv VAE, "
        "1.2x of an MLP, with loss and test ELBO within 0.2%% of float32's after an MNIST epoch; "
        "--no-amp: float32 everywhere",
    )
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep conv weights channels-last (NHWC). Default: on for the CPU and CUDA, off elsewhere",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="run the training loss through torch.compile (default off: the first steps wait tens of seconds "
        "for the compiler; on a CPU it needs a C++ compiler)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for tensor ops (default: PyTorch's, one per core); on a busy shared machine try 1",
    )
    p.add_argument("--run-dir", type=Path, default=None, help="optimiser state and previews (default runs/<out name>)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last completed epoch")
    p.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint folder")
    p.add_argument(
        "--bundle",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after the last epoch, write the checkpoint's explore bundle (genviz.explore: what the app explores "
        "without the dataset; about a minute on a CPU). --no-bundle: not (build it later with "
        "`genviz explore <out>`)",
    )
    return p


def _positive(value) -> bool:
    return isinstance(value, float) and value > 0


def model_settings(args: argparse.Namespace) -> dict:
    """The model config fields the settings flags given set for the variant args.model (SETTING_FLAGS)."""
    family, fixed = variants()[args.model]
    config_fields = {f.name for f in dataclasses.fields(REGISTRY[family].config)}
    settings = {}
    for flag, name, options in SETTING_FLAGS:
        value = getattr(args, flag[2:].replace("-", "_"))
        tunable = name not in fixed or fixed[name] in options.get("choices", ()) or _positive(fixed[name])
        applies = name in config_fields and tunable
        if value is not None and applies:
            settings[name] = value
    return settings


def train_config(argv: list[str]) -> TrainConfig:
    """The TrainConfig of a command line; argparse's errors exit, as the command does."""
    args = build_parser().parse_args(argv)
    shared = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if f.name != "settings"}
    return TrainConfig(**shared, settings=model_settings(args))


def command_line(argv: list[str]) -> str:
    """The command a checkpoint records: this one, less --resume and --overwrite (how it started) and --bundle or
    --no-bundle (what is written beside the model, not the model)."""
    dropped = ("--resume", "--overwrite", "--bundle", "--no-bundle")
    return shlex.join(["genviz", "train", *(a for a in argv if a not in dropped)])


def write_bundle(out: Path, device: str | None) -> int:
    """The explore bundle of the finished checkpoint `out`, with a progress bar (genviz.explore.build_bundle). It
    never fails the run: any problem (no test set, a full disk) is one warning line saying how to build it later.
    Returns the exit code (130 when interrupted)."""
    from tqdm.auto import tqdm

    from genviz.checkpoint import first_line, read_config
    from genviz.explore import build_bundle

    later = f"build it later with `genviz explore {out}`"
    try:
        if not REGISTRY[read_config(out)["family"]].model.explorable:
            return 0  # a classifier has no latent space to explore
    except Exception as e:
        print(f"warning: no explore bundle written for {out} ({first_line(e)}); {later}", file=sys.stderr)
        return 0
    with tqdm(total=1, desc="explore bundle", unit="step", leave=False, disable=None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total, bar.n = total, done
            bar.refresh()

        try:
            found = build_bundle(out, progress=progress, device=device)
        except KeyboardInterrupt:
            print(f"\ninterrupted: {out} is saved whole, without an explore bundle; {later}", file=sys.stderr)
            return 130
        except Exception as e:  # anything: the checkpoint is saved, the bundle is only a convenience
            print(f"warning: no explore bundle written for {out} ({first_line(e)}); {later}", file=sys.stderr)
            return 0
    print(f"explore bundle written: {found.folder} ({len(found.latents):,} points)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    config = train_config(argv)
    try:
        out = train_model(config, command_line(argv))
    except TrainingError as e:
        rank, world_size = processes()
        print(f"{f'rank {rank}: ' if world_size > 1 else ''}error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: the checkpoint keeps the last completed epoch; continue with --resume", file=sys.stderr)
        return 130
    if build_parser().parse_args(argv).bundle and processes()[0] == 0:  # rank 0 saved the checkpoint
        return write_bundle(out, config.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
