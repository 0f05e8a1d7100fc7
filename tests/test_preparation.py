"""How uploads are prepared, as a checkpoint records it: read with a default where the shipped checkpoints record
none, written by every new checkpoint, checked like every other key; and the pages' control of it."""

import hashlib
import io
import json
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from genviz import CheckpointError, load_model, save_checkpoint, ui
from genviz.checkpoint import dataset_info, read_config
from genviz.preparation import MNIST, Preparation, upload_to_input
from support.checkpoints import edit_config, tiny

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "digits"
    save_checkpoint(tiny(), path, dataset_info("my-digits", [str(i) for i in range(10)]))
    return path


@pytest.mark.parametrize(
    "name, expected", [("mnist-vae", MNIST), ("mnist-classifier", MNIST), ("cifar10-vae", Preparation("crop"))]
)
def test_shipped_checkpoints_record_none_and_get_their_datasets_default(name, expected):
    folder = ROOT / "checkpoints" / name
    before = hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()
    assert "preparation" not in json.loads((folder / "config.json").read_text())["dataset"]
    assert load_model(folder, "cpu").checkpoint.dataset.preparation == expected
    assert hashlib.sha256((folder / "config.json").read_bytes()).hexdigest() == before  # read, never rewritten


def test_a_new_checkpoint_records_its_preparation(folder, tmp_path):
    # A custom image folder of one-channel 28x28 images: prepared as MNIST was; colour: cropped.
    assert read_config(folder)["dataset"]["preparation"] == MNIST.as_dict()
    assert load_model(folder, "cpu").checkpoint.dataset.preparation == MNIST
    save_checkpoint(tiny(image_shape=(3, 32, 32)), tmp_path / "photos", dataset_info("photos", ["a"]))
    assert read_config(tmp_path / "photos")["dataset"]["preparation"] == {"fit": "crop"}
    # One given is recorded as it is.
    chosen = Preparation("subject", box=24, centre="box", full=0.1)
    save_checkpoint(tiny(), tmp_path / "chosen", dataset_info("my-digits", ["a"], chosen))
    assert load_model(tmp_path / "chosen", "cpu").checkpoint.dataset.preparation == chosen


def test_a_checkpoint_without_one_gets_the_default(folder):
    edit_config(folder, lambda c: c["dataset"].pop("preparation"))
    assert load_model(folder, "cpu").checkpoint.dataset.preparation == MNIST


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(extra=1), "'dataset' must have exactly the keys class_names, name, normalization"),
        (lambda d: d["preparation"].update(colour="red"), r"'dataset.preparation': unknown keys: colour"),
        (lambda d: d.update(preparation="subject"), r"'dataset.preparation': must be a JSON object"),
        (lambda d: d.update(preparation={"fit": "zoom"}), r"'dataset.preparation': fit must be one of"),
        (lambda d: d["preparation"].update(box=40), r"'dataset.preparation': a box of 40 pixels does not fit"),
        (lambda d: d["preparation"].update(box=[20]), r"'dataset.preparation': box must be"),
        (lambda d: d.update(preparation={"fit": "pad", "box": 20}), "takes no other settings"),
    ],
)
def test_a_bad_preparation_or_an_unknown_key_is_refused(folder, change, message):
    edit_config(folder, lambda c: change(c["dataset"]))
    with pytest.raises(CheckpointError, match=message):
        load_model(folder, "cpu")


def test_the_subject_preparation_is_refused_for_a_colour_model(tmp_path):
    save_checkpoint(tiny(image_shape=(3, 32, 32)), tmp_path / "photos", dataset_info("photos", ["a"]))
    edit_config(tmp_path / "photos", lambda c: c["dataset"].update(preparation=MNIST.as_dict()))
    with pytest.raises(CheckpointError, match="for one-channel models, not 3 channels"):
        load_model(tmp_path / "photos", "cpu")


def test_a_model_without_a_checkpoint_is_prepared_by_its_shape():
    assert ui.model_preparation(tiny()) == MNIST
    assert ui.model_preparation(tiny(image_shape=(3, 32, 32))) == Preparation("crop")


def png(image: Image.Image, name: str) -> tuple[str, bytes, str]:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return name, buffer.getvalue(), "image/png"


CONTROLS = """
import streamlit as st
from genviz import ui
from genviz.checkpoint import load_model

model = load_model(st.session_state.get("folder"), "cpu")
pictures = ui.picture_source(model, "test")
ui.show_notes(pictures)
st.session_state["shown"] = [(p.name, p.image.sum().item(), p.notes) for p in pictures]
"""


def test_the_control_offers_the_training_preparation_first_and_the_plain_fits(folder):
    app = AppTest.from_string(CONTROLS, default_timeout=60)
    app.session_state["folder"] = str(folder)
    app.run()
    app.radio(key="test_source").set_value("Upload").run()  # it opens on test images
    control = app.radio(key="test_fit")
    assert control.options == [ui.widgets.AS_TRAINED, "pad", "crop", "stretch"] and control.index == 0
    assert "Like the training images: the background levelled, the subject found" in control.help
    image = Image.new("L", (200, 100), 255)
    image.paste(0, (60, 20, 80, 80))  # a dark bar on white
    app.file_uploader(key="test_files").set_value([png(image, "bar.png")]).run()
    assert not app.exception and not app.error
    ((_, _, notes),) = app.session_state["shown"]
    assert any(n.startswith("cropped to the subject") for n in notes)
    expected = upload_to_input(png(image, "bar.png")[1], "bar.png", (1, 28, 28), "stretch")
    control.set_value("stretch").run()
    ((_, total, notes),) = app.session_state["shown"]
    assert notes == expected.notes and total == pytest.approx(expected.image.sum().item())
    markdown = " ".join(e.proto.body for e in app.get("markdown"))
    assert "stretched from 200x100 to 28x28" in markdown


@pytest.mark.slow
def test_the_benchmark_measures_every_preparation_and_the_default_reads_best(tmp_path):
    from benchmarks import upload_prep

    result = upload_prep.main(["--n", "40", "--cifar-n", "8", "--out", str(tmp_path / "upload_prep.json")])
    assert json.loads((tmp_path / "upload_prep.json").read_text())["n"] == 40
    canonical, default, *plain = result["mnist"]
    assert len(plain) == 6 and default["preparation"].startswith("default: the background levelled")
    assert default["reconstruction_recognised"] > max(row["reconstruction_recognised"] for row in plain)
    assert default["of_canonical"] >= 0.8  # 40 digits: the goal (0.9 over 1,000) with room for chance
    cifar_canonical, cifar_default, *cifar_plain = result["cifar"]
    assert [row["preparation"] for row in cifar_plain] == ["pad", "stretch"]
    assert cifar_default["reconstruction_mse"] < min(row["reconstruction_mse"] for row in cifar_plain)
