"""Measure checkpoints on their dataset's test split and write metrics.json and the model cards.

    genviz evaluate checkpoints/mnist-vae
    genviz evaluate checkpoints/*        # every shipped model, then the quality bars

The command line over `genviz.evaluation`, which says what is measured for which model. Each measurement shows
progress and can be run alone (`--metrics linear-probe,compression`): its figures replace those metrics.json holds
and the rest are kept. `--missing` measures only what applies and metrics.json lacks. After the models, the
issue's quality bars for the shipped models among them are printed.
"""

import argparse
import sys
from pathlib import Path

from genviz import CheckpointError
from genviz.checkpoint import read_metrics
from genviz.data import DatasetError
from genviz.evaluation import IWAE_IMAGES, IWAE_SAMPLES, METRICS, applicable, evaluate, known, missing


def quality_bars(root: Path) -> list[tuple[str, str, bool]]:
    """The issue's quality bars for the shipped models under `root`: (bar, measured, met) for
    each whose checkpoints have been evaluated."""
    names = ("mnist-vae", "mnist-dae", "mnist-gan", "mnist-classifier", "mnist-ae", "mnist-sparse-ae", "mnist-cae")
    names += ("mnist-wgan-gp", "mnist-cvae", "mnist-beta-vae", "mnist-beta-vae-free-bits", "mnist-progan")
    names += ("cifar10-vae", "cifar10-progan")
    m = {name: read_metrics(root / name) for name in names}
    bars = []
    if "test_negative_elbo_nats" in m["mnist-vae"]:
        elbo = m["mnist-vae"]["test_negative_elbo_nats"]
        bars.append(("mnist-vae negative ELBO <= 95 nats", f"{elbo:.2f}", elbo <= 95))
    if gain := m["mnist-dae"].get("denoising_psnr_db", {}).get("gaussian 0.5", {}).get("gain"):
        bars.append(("mnist-dae gain at sigma 0.5 >= 8 dB", f"{gain:.2f}", gain >= 8))
    gan, vae = m["mnist-gan"].get("sample_fid_classifier"), m["mnist-vae"].get("sample_fid_classifier")
    if gan is not None and vae is not None:
        bars.append(("mnist-gan FID <= mnist-vae FID / 3", f"{gan:.2f} vs {vae / 3:.2f}", gan <= vae / 3))
    if (share := m["mnist-gan"].get("sample_min_class_share")) is not None:
        bars.append(("mnist-gan samples: every digit >= 5%", f"{share:.1%}", share >= 0.05))
    if (accuracy := m["mnist-classifier"].get("test_accuracy")) is not None:
        bars.append(("mnist-classifier accuracy >= 99.0%", f"{accuracy:.2%}", accuracy >= 0.99))
    wgan = m["mnist-wgan-gp"].get("sample_fid_classifier")
    if wgan is not None and gan is not None and vae is not None:
        measured, met = f"{wgan:.2f} vs {gan:.2f}, {vae / 3:.2f}", wgan < gan and wgan <= vae / 3
        bars.append(("mnist-wgan-gp FID < mnist-gan's and <= mnist-vae's / 3", measured, met))
    if (share := m["mnist-wgan-gp"].get("sample_min_class_share")) is not None:
        bars.append(("mnist-wgan-gp samples: every digit >= 5%", f"{share:.1%}", share >= 0.05))
    progan = m["mnist-progan"].get("sample_fid_classifier")
    if progan is not None and wgan is not None:
        bars.append(
            ("mnist-progan FID <= 1.2 x mnist-wgan-gp's", f"{progan:.2f} vs {1.2 * wgan:.2f}", progan <= 1.2 * wgan)
        )
    if (share := m["mnist-progan"].get("sample_min_class_share")) is not None:
        bars.append(("mnist-progan samples: every digit >= 5%", f"{share:.1%}", share >= 0.05))
    grown, blurry = m["cifar10-progan"].get("sample_fid_classifier"), m["cifar10-vae"].get("sample_fid_classifier")
    if grown is not None and blurry is not None:
        bars.append(("cifar10-progan FID < cifar10-vae's", f"{grown:.2f} vs {blurry:.2f}", grown < blurry))
    cvae = m["mnist-cvae"]
    if "test_negative_elbo_nats" in cvae and "test_negative_elbo_nats" in m["mnist-vae"]:
        elbo, plain = cvae["test_negative_elbo_nats"], m["mnist-vae"]["test_negative_elbo_nats"]
        bars.append(("mnist-cvae negative ELBO <= mnist-vae's", f"{elbo:.2f} vs {plain:.2f}", elbo <= plain))
    if (accuracy := cvae.get("sample_label_accuracy")) is not None:
        bars.append(("mnist-cvae samples classified as drawn >= 95%", f"{accuracy:.2%}", accuracy >= 0.95))
    collapsed, kept = m["mnist-beta-vae"].get("latent_usage"), m["mnist-beta-vae-free-bits"].get("latent_usage")
    if collapsed and kept:
        a, b = collapsed["active_units"], kept["active_units"]
        measured = f"{b} of {kept['dimensions']} vs {a} of {collapsed['dimensions']}"
        met = b == kept["dimensions"] and a <= collapsed["dimensions"] / 2
        bars.append(("free bits keep every dimension active where beta 8 collapses half or more", measured, met))
    ae = m["mnist-ae"]
    if "code" in ae and "code" in (sparse := m["mnist-sparse-ae"]):
        hoyer, plain = sparse["code"]["hoyer_sparsity"], ae["code"]["hoyer_sparsity"]
        bars.append(("mnist-sparse-ae Hoyer >= 0.6 and 2x mnist-ae's", f"{hoyer:.3f} vs {plain:.3f}",
                     hoyer >= 0.6 and hoyer >= 2 * plain))  # fmt: skip
        bars.append(_mse_bar("mnist-sparse-ae", sparse, ae))
    if "code" in ae and "code" in (cae := m["mnist-cae"]):
        jac, plain = cae["code"]["jacobian_norm_relative"], ae["code"]["jacobian_norm_relative"]
        bars.append(("mnist-cae Jacobian (relative) <= mnist-ae's / 2", f"{jac:.3f} vs {plain:.3f}", jac <= plain / 2))
        bars.append(_mse_bar("mnist-cae", cae, ae))
        key = next(k for k in cae["code"] if k.startswith("shift_under_noise"))
        moved, plain = cae["code"][key], ae["code"][key]
        bars.append(
            (f"mnist-cae code moves less than mnist-ae's ({key})", f"{moved:.3f} vs {plain:.3f}", moved < plain)
        )
    return bars


def _mse_bar(name: str, metrics: dict, ae: dict) -> tuple[str, str, bool]:
    mse, plain = metrics["test_mse"], ae["test_mse"]
    return (f"{name} MSE <= 1.5x mnist-ae's", f"{mse:.5f} vs {plain:.5f}", mse <= 1.5 * plain)


def _show(name: str, value, indent: str = "") -> None:
    if isinstance(value, dict):
        print(f"{indent}{name}")
        for k, v in value.items():
            _show(k, v, indent + "  ")
    else:
        print(f"{indent}{name:32s} {value:.4f}" if isinstance(value, float) else f"{indent}{name:32s} {value}")


def _metric_names(text: str) -> list[str]:
    try:
        return known([name.strip() for name in text.split(",") if name.strip()])
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genviz evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="+", type=Path, help="checkpoint folders")
    p.add_argument(
        "--metrics",
        type=_metric_names,
        default=None,
        help=f"measure only these, comma-separated, keeping the other figures ({', '.join(METRICS)}; "
        "default: every one that applies)",
    )
    p.add_argument(
        "--missing", action="store_true", help="measure only what applies and metrics.json lacks (see --metrics)"
    )
    p.add_argument("--limit", type=int, default=None, help="evaluate on the first N test images only")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    p.add_argument("--classifier", type=Path, default=None, help="classifier checkpoint for the sample figures")
    p.add_argument("--samples", type=int, default=10_000, help="samples drawn for FID, precision and recall")
    p.add_argument("--iwae-samples", type=int, default=IWAE_SAMPLES, help="VAE: importance samples per image")
    p.add_argument(
        "--iwae-limit",
        type=int,
        default=IWAE_IMAGES,
        help=f"VAE: importance-weighted NLL on the first N test images (default {IWAE_IMAGES}; 0: all)",
    )
    p.add_argument("--probe-images", type=int, default=None, help="training images the linear probes learn from")
    p.add_argument("--compression-images", type=int, default=2000, help="test images for rate-distortion")
    p.add_argument("--cas-images", type=int, default=10_000, help="generated images for the accuracy score")
    p.add_argument("--cas-epochs", type=int, default=5, help="epochs of the accuracy score's classifiers")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = build_parser()
    args = p.parse_args(argv)
    # Classifiers first: the other models' sample figures are measured with them.
    paths = sorted(args.paths, key=lambda path: not path.name.endswith("classifier"))
    failed = False
    for path in paths:
        print(f"== {path}")
        try:
            names = args.metrics
            if args.missing:
                names = [name for name in missing(path) if names is None or name in names]
                if not names:
                    print("nothing missing")
                    continue
            elif names is not None:
                names = [name for name in names if name in applicable(path)]
            metrics = evaluate(
                path,
                args.limit,
                args.batch_size,
                args.device,
                argv,
                args.classifier,
                args.samples,
                args.iwae_samples,
                args.iwae_limit or None,
                metrics=names,
                probe_images=args.probe_images,
                compression_images=args.compression_images,
                cas_images=args.cas_images,
                cas_epochs=args.cas_epochs,
            )
        except (CheckpointError, DatasetError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            failed = True
            continue
        for name, value in metrics.items():
            _show(name, value)
    for root in sorted({path.parent for path in paths}):
        if bars := quality_bars(root):
            print(f"== quality bars ({root})")
            for bar, measured, met in bars:
                print(f"{'met   ' if met else 'MISSED'} {bar:40s} {measured}")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
