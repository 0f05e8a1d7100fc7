"""Checkpoint folders for the tests: a tiny model to save, and every way a saved folder can be broken,
each with the words its CheckpointError must carry."""

import json
import pickle
import shutil

import torch

from genviz.models import REGISTRY, build_model


def tiny(family="vae", **settings):
    torch.manual_seed(0)
    return build_model(family, REGISTRY[family][1](latent_dim=4, width=8, **settings)).eval()


def edit_config(folder, change):
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))


class Payload:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def break_pickle(folder):
    marker = folder.parent / "payload-ran"
    with open(folder / "model.safetensors", "wb") as f:
        pickle.dump({"state_dict": Payload(marker)}, f)
    return marker


def break_torch_save(folder):
    torch.save(tiny().state_dict(), folder / "model.safetensors")


BROKEN = {
    "missing folder": (lambda f: shutil.rmtree(f), "not a checkpoint folder"),
    "no config": (lambda f: (f / "config.json").unlink(), "config.json: missing"),
    "config not json": (lambda f: (f / "config.json").write_text("{nope"), "config.json: not valid JSON"),
    "config a list": (lambda f: (f / "config.json").write_text("[]"), "JSON object"),
    "unknown top key": (lambda f: edit_config(f, lambda c: c.update(extra=1)), "unknown keys: extra"),
    "unknown family": (lambda f: edit_config(f, lambda c: c.update(family="flow")), "unknown model family"),
    "unknown setting": (
        lambda f: edit_config(f, lambda c: c["model"].update(depth=3)),
        "unknown model settings: depth",
    ),
    "invalid setting": (
        lambda f: edit_config(f, lambda c: c["model"].update(likelihood="poisson")),
        "invalid model settings",
    ),
    "mismatched config": (lambda f: edit_config(f, lambda c: c["model"].update(latent_dim=6)), "has shape"),
    "other family's weights": (
        lambda f: edit_config(f, lambda c: c.update(family="ae", model={"latent_dim": 4, "width": 8})),
        "does not match config.json",
    ),
    "no weights": (lambda f: (f / "model.safetensors").unlink(), "model.safetensors: missing"),
    "zero-byte weights": (lambda f: (f / "model.safetensors").write_bytes(b""), "not a readable safetensors"),
    "truncated weights": (
        lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:-100]),
        "not a readable safetensors",
    ),
    "torch.save pickle": (break_torch_save, "genviz never unpickles"),
}
