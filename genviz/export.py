"""A model's decoder as ONNX, for decoding in the browser (onnxruntime-web), cached by fingerprint.

The export is always made from the checkpoint's safetensors weights as `load_model` reads them: the
ONNX file is derived data, kept in genviz's cache. The one exception is a model brought as ONNX
(`genviz.models.onnx`): its `decoder.onnx` is the model, served once `genviz.onnxfile` has checked it
and genviz has wrapped it into the contract below. Any other `.onnx` file in a checkpoint folder is
never opened.

Opset 18: the opset of torch's exporter's translations (onnxscript's torchlib), so nothing is
converted between versions, and one that onnxruntime has run since 1.14, onnxruntime-web 1.30's WASM
backend included. The decoders become Gemm, Reshape, BatchNormalization, ConvTranspose, Relu and
Sigmoid, all long-standing ops on every backend.
"""

import argparse
import copy
import hashlib
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from torch import nn

from genviz.checkpoint import CheckpointError, fingerprint, first_line, load_model
from genviz.data import cache_dir
from genviz.files import atomic_paths
from genviz.models.base import GenerativeModel

OPSET = 18  # see the module docstring
INPUT, OUTPUT = "z", "images"  # the graph's names: z (B, latent_dim) -> images (B, C, H, W) in [0, 1]
TOLERANCE = 1e-3  # largest per-pixel difference from torch an export may show on its check batch
CHECK_BATCH = 8  # prior latents each export is checked on before it is returned
# torch's ONNX exporter patches process-wide state while it runs: Python's max and min become functools.partial
# objects (torch/_export/non_strict_utils.py). One export at a time, and numba, which fails to compile a function
# that calls min or max meanwhile ("Untyped global name 'min'"), waits: genviz.latent's UMAP work holds this too.
EXPORT_LOCK = threading.RLock()


class ExportError(Exception):
    """A decoder cannot be exported to ONNX; the model still decodes with torch on the server."""


class _Decoder(nn.Module):
    """`model.decode` as a module of its own, the graph torch.onnx.export traces."""

    def __init__(self, model: GenerativeModel):
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z)  # (B, latent_dim) -> (B, C, H, W)


def _name(model: GenerativeModel) -> str:
    checkpoint = getattr(model, "checkpoint", None)
    return checkpoint.path if checkpoint is not None else type(model).__name__


def decoder_onnx(model: GenerativeModel) -> bytes:
    """The ONNX bytes of `model.decode`: input "z" (B, latent_dim) float32, output "images" (B, C, H, W)
    float32 in [0, 1], the batch size B dynamic. Exported from a float32 copy of the model, in eval mode
    on the CPU (the model itself is not changed), with opset 18; the same weights give the same bytes.

    Before it is returned, the export decodes CHECK_BATCH prior latents in onnxruntime, which must agree
    with torch within TOLERANCE per pixel. Raises ExportError, naming the model and the reason, when the
    export fails or disagrees.
    """
    name = _name(model)
    if not getattr(model, "explorable", False):
        raise ExportError(f"{name}: has no decoder to export (it has no latent space)")
    if (graph := model.onnx_decoder()) is not None:  # a brought model: its checked graph, which the server runs too
        return graph
    decoder = _Decoder(copy.deepcopy(model).float().cpu()).eval().requires_grad_(False)
    z = model.prior(2, torch.Generator().manual_seed(0)).float().cpu()  # B = 2: torch.export fixes 0 and 1
    data = module_onnx(decoder, z, INPUT, [OUTPUT], f"{name}: its decoder")
    _check(name, decoder, data)
    return data


def module_onnx(module: nn.Module, example: torch.Tensor, input_name: str, output_names: list[str], what: str) -> bytes:
    """The ONNX bytes of `module` on one input like `example` (batch first, B >= 2: torch.export fixes sizes 0 and
    1), the batch size dynamic, with opset OPSET and what the exporter records of the Python side stripped; one
    export at a time in a process (EXPORT_LOCK). Raises ExportError, starting with `what`, when the exporter fails."""
    try:
        with EXPORT_LOCK:
            program = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                opset_version=OPSET,
                input_names=[input_name],
                output_names=output_names,
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                external_data=False,
                verbose=False,
            )
        proto = program.model_proto
        _strip(proto.graph)
        return proto.SerializeToString(deterministic=True)
    except Exception as e:  # the exporter raises many types (unsupported ops, tracing errors); all mean one thing
        raise ExportError(f"{what} cannot be exported to ONNX ({first_line(e)})") from None


def _strip(graph) -> None:
    """Remove what the exporter records of the Python side (stack traces with this machine's paths, the
    module tree, the torch.export program): the browser needs none of it, and without it the bytes depend
    only on the weights and the exporter's version, not on where genviz is installed."""
    del graph.metadata_props[:]
    graph.doc_string = ""
    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
        for attribute in node.attribute:  # control flow keeps its branches as subgraphs
            for subgraph in [attribute.g] if attribute.HasField("g") else attribute.graphs:
                _strip(subgraph)


def _check(name: str, decoder: _Decoder, data: bytes) -> None:
    """Raise ExportError unless onnxruntime decodes like torch on a batch of prior latents."""
    import onnxruntime  # imported here: only exports need it

    z = decoder.model.prior(CHECK_BATCH, torch.Generator().manual_seed(0))
    try:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # a small batch: threads would cost more than they save
        session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        (got,) = session.run([OUTPUT], {INPUT: z.numpy()})
    except Exception as e:
        raise ExportError(f"{name}: its ONNX decoder does not run in onnxruntime ({first_line(e)})") from None
    with torch.no_grad():
        want = decoder(z)
    if tuple(got.shape) != tuple(want.shape):
        raise ExportError(f"{name}: its ONNX decoder gives shape {tuple(got.shape)}, torch {tuple(want.shape)}")
    if not (diff := (torch.from_numpy(got) - want).abs().max().item()) <= TOLERANCE:  # NaN fails too
        raise ExportError(f"{name}: its ONNX decoder differs from torch by {diff:.3g} per pixel (at most {TOLERANCE})")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cached_decoder(path: str | os.PathLike) -> Path:
    """The ONNX decoder of the checkpoint folder `path`, as a file in genviz's cache:
    `cache_dir() / "onnx" / "<fingerprint>.onnx"`, keyed by the fingerprint of its config and weights,
    so changed weights get a new export. A cached file is used only if it matches the SHA-256 recorded
    beside it when it was written (`<fingerprint>.onnx.sha256`); a missing, truncated or altered one is
    exported again. Both are written atomically.

    Raises CheckpointError for a folder that does not load, ExportError for a decoder that cannot be
    exported (decode with torch instead).
    """
    folder = Path(path)
    key, target, sidecar = _cache_paths(folder)
    if _is_intact(target, sidecar):
        return target
    model = load_model(folder, device="cpu")
    data = decoder_onnx(model)
    if fingerprint(folder) != key:  # rewritten while it was read: this export may be of either version
        raise ExportError(f"{folder}: changed while its decoder was exported; try again")
    with atomic_paths(target, sidecar) as (tmp, tmp_sidecar):
        tmp.write_bytes(data)
        tmp_sidecar.write_text(_digest(data) + "\n", encoding="ascii")
    return target


def _cache_paths(folder: Path) -> tuple[str, Path, Path]:
    """The folder's fingerprint, and where its export and the export's SHA-256 are cached."""
    try:
        key = fingerprint(folder)
    except OSError as e:
        raise CheckpointError(f"{folder}: cannot be read ({first_line(e)})") from None
    target = cache_dir() / "onnx" / f"{key}.onnx"
    return key, target, target.with_name(target.name + ".sha256")


def _is_intact(target: Path, sidecar: Path) -> bool:
    try:
        return _digest(target.read_bytes()) == sidecar.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return False


def export_folders(folders: Iterable, first: str | None = None) -> Iterator[tuple[str, str]]:
    """Export the decoder of every checkpoint in `folders` (checkpoint folders, or folders of them) into the cache
    (`cached_decoder`), the folder named `first` before the others, as `genviz serve` does in the background, so
    that opening them costs nothing. Yields what became of each as it is done: (folder name, "already cached",
    "exported", or why not)."""
    from genviz.folders import checkpoint_folders

    for folder in sorted(checkpoint_folders(folders), key=lambda f: f.name != first):
        try:
            _, target, sidecar = _cache_paths(folder)
            was = _is_intact(target, sidecar)
            cached_decoder(folder)
            yield folder.name, "already cached" if was else "exported"
        except (ExportError, CheckpointError) as e:
            yield folder.name, f"not exported: {first_line(e).removeprefix(f'{folder}: ')}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genviz export",
        description="Export the decoders of checkpoints to ONNX for decoding in the browser, into genviz's cache.",
    )
    parser.add_argument(
        "folders", nargs="*", default=["checkpoints"], metavar="FOLDER",
        help="a checkpoint folder, or a folder of them (default: ./checkpoints)",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"Exporting the decoders of {', '.join(args.folders)} for the browser (genviz.export)", flush=True)
    done = list(export_folders(args.folders))
    for name, what in done:
        print(f"  {name}: {what}", flush=True)
    if not done:
        print(f"No checkpoint folders in {', '.join(args.folders)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
