"""`genviz`: one command over genviz's command lines, each also `python -m <its module>`.

    genviz serve [FOLDER ...] [--port N] [--host ADDRESS]   the app on folders of checkpoints
    genviz train | evaluate | anomaly | export | explore | bring | site  [their options; --help for each]

Nothing heavy is imported before a subcommand runs, so `genviz --help` answers at once."""

import argparse
import importlib
import os
import sys
from pathlib import Path

from genviz import __version__
from genviz.folders import CHECKPOINTS_ENV, checkpoint_folders

# Subcommand -> (its module, whose main(argv) it runs; what it does, in a sentence).
COMMANDS = {
    "serve": ("genviz.serve", "Open the app in the browser on folders of checkpoints (default: ./checkpoints)."),
    "train": ("genviz.training.train", "Train a model on a dataset and write its checkpoint folder."),
    "evaluate": ("genviz.training.evaluate", "Measure checkpoints on their test sets, into metrics.json and the card."),
    "anomaly": ("genviz.training.anomaly", "Run the one-class anomaly benchmark: a model per digit, AUROC of each."),
    "export": ("genviz.export", "Export checkpoints' decoders to ONNX for the browser, into genviz's cache."),
    "explore": ("genviz.explore", "Build explore bundles (latents, maps, thumbnails) so checkpoints open offline."),
    "bring": ("genviz.bring", "Bring a model genviz did not train (ONNX, or a diffusers AutoencoderKL) into a folder."),
    "site": ("genviz.site", "Write a static site that explores checkpoints in any browser, with no server."),
}


def serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genviz serve",
        description=COMMANDS["serve"][1]
        + " Meanwhile, at the lowest CPU priority, it exports their decoders for the browser and builds missing "
        "explore bundles. Other Streamlit options (--server.allowedHosts ...) pass through.",
    )
    parser.add_argument(
        "folders", nargs="*", metavar="FOLDER", type=Path,
        help="a checkpoint folder, or a folder of them (default: ./checkpoints)",
    )  # fmt: skip
    parser.add_argument("--port", type=int, default=8501, help="the port to listen on (default: 8501)")
    parser.add_argument(
        "--host", default="127.0.0.1",
        help="the address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0: every network, see "
        "docs/security.md)",
    )  # fmt: skip
    parser.add_argument(
        "--no-prepare", dest="prepare", action="store_false",
        help="do not export decoders or build bundles in the background",
    )  # fmt: skip
    return parser


def serve(argv: list[str]) -> int:
    """`genviz serve`: genviz.serve's app over the folders given, each checked to exist and hold checkpoints."""
    parser = serve_parser()
    args, streamlit_options = parser.parse_known_args(argv)
    if unknown := [a for a in streamlit_options if a.startswith("--") and "." not in a.split("=")[0]]:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    folders = args.folders or [Path("checkpoints")]
    for folder in folders:
        if not folder.is_dir():
            hint = "" if args.folders else "; name a folder of checkpoints: genviz serve FOLDER"
            parser.error(f"{folder} is not a folder{hint}")
    holding = [folder for folder in folders if checkpoint_folders([folder])]  # each listed once
    if not holding:
        parser.error(
            f"no checkpoints in {', '.join(map(str, folders))}: a checkpoint folder holds config.json (genviz train "
            "and genviz bring write them)"
        )
    for folder in folders:
        if folder not in holding:
            print(f"genviz serve: {folder} holds no checkpoints (no config.json); left out", file=sys.stderr)
    os.environ[CHECKPOINTS_ENV] = os.pathsep.join(str(folder.resolve()) for folder in holding)
    from genviz import serve as server

    options = ["--server.port", str(args.port), "--server.address", args.host, *streamlit_options]
    return server.main(([server.PREPARE] if args.prepare else []) + options)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="genviz",
        description="Explore what autoencoders, VAEs and GANs learn: latent maps, sliders, interpolation and "
        "uploads, with the decoder running in the browser.",
        epilog="`genviz COMMAND --help` says more of each. Docs: docs/ in the source, or the README.",
    )
    parser.add_argument("--version", action="version", version=f"genviz {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, summary) in COMMANDS.items():
        commands.add_parser(name, help=summary, add_help=False)  # its own parser reads the rest
    if not argv or argv[0].startswith("-"):
        parser.parse_args(argv)  # --help, --version, or the error that a command is missing
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        parser.parse_args(argv)  # says which commands there are
    if name == "serve":
        return serve(rest)
    return importlib.import_module(COMMANDS[name][0]).main(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
