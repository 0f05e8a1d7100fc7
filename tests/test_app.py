"""The app through Streamlit's AppTest, on checkpoints trained by the session fixture."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from genviz import latent as lt
from genviz import ui
from support.apptest import images
from support.checkpoints import BROKEN, break_pickle, edit_config

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["mnist-ae", "mnist-gan", "mnist-vae"]


@pytest.mark.slow
def test_home_opens_on_the_vae_and_its_samples_follow_the_seed(app):
    app.run()
    assert not app.exception
    assert app.sidebar.selectbox[0].options == NAMES
    assert images(app.main)[0].captions[0].startswith("64 samples of VAE")
    first = [img.value for img in images(app.main)]
    assert len(first) == 1
    app.main.number_input[0].set_value(7).run()
    assert [img.value for img in images(app.main)] != first
    app.main.number_input[0].set_value(0).run()
    assert [img.value for img in images(app.main)] == first


@pytest.mark.slow
def test_the_mnist_vae_is_preferred_to_other_vaes(app, trained, tmp_path):
    shutil.copytree(trained["vae"].out, tmp_path / "cifar10-vae")  # listed before mnist-vae
    app.run()
    assert app.sidebar.selectbox[0].value == str(tmp_path / "mnist-vae")


@pytest.mark.slow
def test_every_model_can_be_picked(app, tmp_path):
    app.run()
    for name in NAMES:
        app.sidebar.selectbox[0].set_value(str(tmp_path / name)).run()
        assert not app.exception and not app.error
        (caption,) = images(app.main)[0].captions
        assert caption.startswith(f"64 samples of {name.split('-')[1].upper()}")


@pytest.mark.parametrize(
    "case", ["pickle payload", "torch.save pickle", "zero-byte weights", "truncated weights", "mismatched config",
             "unknown top key", "unknown setting"]
)  # fmt: skip
@pytest.mark.slow
def test_a_broken_checkpoint_is_named_with_its_problem_and_the_others_stay_open(app, tmp_path, case):
    folder = tmp_path / "mnist-vae"
    if case == "pickle payload":
        marker, problem = break_pickle(folder), "genviz never unpickles"
    else:
        breaker, problem = BROKEN[case]
        breaker(folder)
    app.run()
    app.sidebar.selectbox[0].set_value(str(folder)).run()
    assert not app.exception
    (error,) = app.sidebar.error
    assert "cannot be opened" in error.value and ui.plain(folder) in error.value and ui.plain(problem) in error.value
    assert app.sidebar.selectbox[0].options == NAMES
    app.sidebar.selectbox[0].set_value(str(tmp_path / "mnist-ae")).run()
    assert not app.exception and not app.sidebar.error
    assert images(app.main)[0].captions[0].startswith("64 samples of AE")
    if case == "pickle payload":
        assert not marker.exists()


HOSTILE = "<img src=x onerror=alert(1)> [link](http://evil.example) **bold** :red[red] $x$"


@pytest.mark.slow
def test_text_from_a_checkpoint_is_shown_as_text(app, tmp_path):
    """Class names, the dataset name and training notes in a config that anyone may have written reach
    the model card escaped, and the command cannot close its code block."""

    def taint(config):
        config["dataset"].update(name=HOSTILE, class_names=[HOSTILE] * 10)
        config["training"].update(note=HOSTILE, command="python ```\n# heading")

    edit_config(tmp_path / "mnist-vae", taint)
    app.run()
    assert not app.exception
    card = app.sidebar.expander[0].markdown[0].value
    assert ui.code(HOSTILE) in card and ui.plain(HOSTILE) in card  # a code span is literal; elsewhere it is escaped
    assert HOSTILE not in card.replace(ui.code(HOSTILE), "")
    assert "\n````\npython ``` # heading\n````\n" in card  # one line, inside a longer fence


def test_map_legend_and_hover_show_class_names_as_text():
    projection = lt.Projection("pca", {}, np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32), np.array([0, 1]))
    figure = ui.map_figure(projection, [HOSTILE, "<b>2</b>"], np.zeros((0, 2)), None)
    names = [trace.name for trace in figure.data[1:]]
    assert names == ["&lt;img src=x onerror=alert(1)&gt; [link](http://evil.example) **bold** :red[red] $x$",
                     "&lt;b&gt;2&lt;/b&gt;"]  # fmt: skip
    assert all(trace.name in trace.hovertemplate for trace in figure.data[1:])


@pytest.mark.slow
def test_unreadable_metrics_leave_the_model_usable(app, tmp_path):
    (tmp_path / "mnist-vae" / "metrics.json").write_text("{broken")
    app.run()
    assert not app.exception and not app.error
    assert ui.plain("metrics.json: not valid JSON") in app.sidebar.warning[0].value
    assert len(images(app.main)) == 1


@pytest.mark.slow
def test_a_typed_folder_is_listed_and_opened(app, trained, tmp_path):
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere" / "my-gan"
    shutil.copytree(trained["gan"].out, elsewhere)
    app.run()
    app.sidebar.text_input[0].input(str(elsewhere)).run()
    assert not app.exception
    assert app.sidebar.selectbox[0].value == str(elsewhere)
    assert app.sidebar.selectbox[0].options == [*NAMES, "my-gan"]
    assert images(app.main)[0].captions[0].startswith("64 samples of GAN")
    assert app.sidebar.expander[0].markdown[0].value.startswith(f"# {ui.plain('my-gan')}\n")  # the folder's name


@pytest.mark.slow
def test_a_typed_classifier_is_refused_with_a_reason(app, tmp_path):
    app.run()
    app.sidebar.text_input[0].input(str(tmp_path / "mnist-classifier")).run()
    assert not app.exception
    assert "has no latent space to explore" in app.sidebar.error[0].value
    assert not images(app.main)


@pytest.mark.slow
def test_no_checkpoints_says_how_to_train_one(app, tmp_path, monkeypatch):
    monkeypatch.setattr(ui, "CHECKPOINTS", [tmp_path / "empty"])
    app.run()
    assert not app.exception
    assert "genviz train" in app.sidebar.info[0].value
    assert not images(app.main)


HEAVY = ("umap", "numba", "sklearn", "scipy", "torchvision", "torchmetrics", "pandas")
FRESH_HOME = """
import sys
from streamlit.testing.v1 import AppTest
app = AppTest.from_file(sys.argv[1], default_timeout=120).run()
assert not app.exception, app.exception
print(" ".join(m for m in sys.argv[2:] if m in sys.modules))
"""


@pytest.mark.slow
def test_the_home_page_imports_none_of_the_heavy_libraries(trained, tmp_path):
    """The first page a start opens pays only for torch and Streamlit: UMAP, numba, scikit-learn and the
    rest load on the pages that use them (a cold start's seconds; benchmarks/cold_start.py times it)."""
    shutil.copytree(trained["vae"].out, tmp_path / "mnist-vae")
    env = {**os.environ, "GENVIZ_CHECKPOINTS": str(tmp_path), "GENVIZ_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", FRESH_HOME, str(ROOT / "genviz" / "app.py"), *HEAVY],
        capture_output=True, text=True, env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "", f"the home page imported: {done.stdout.strip()}"


def test_the_model_and_a_pages_choices_are_in_the_url_and_a_reload_restores_them(app, tmp_path):
    app.query_params["model"] = "mnist-gan"
    app.run()
    assert app.sidebar.selectbox[0].value == str(tmp_path / "mnist-gan")
    app.switch_page("views/sample.py").run()
    app.number_input(key="sample_seed").set_value(5).run()
    app.select_slider[0].set_value(4).run()
    app.radio[0].set_value("Truncation").run()
    wanted = {"model": "mnist-gan", "seed": "5", "grid": "4", "control": "Truncation"}
    assert {k: app.query_params.get(k) for k in wanted} == wanted
    shown = images(app.main)[0]
    reloaded = AppTest.from_file("../genviz/app.py", default_timeout=120)
    reloaded.query_params = dict(app.query_params)  # the address a reload or a shared link opens
    reloaded.run()
    reloaded.switch_page("views/sample.py").run()
    assert not reloaded.exception and not reloaded.warning
    assert reloaded.sidebar.selectbox[0].value == str(tmp_path / "mnist-gan")
    again = images(reloaded.main)[0]
    assert again.captions == shown.captions and again.value == shown.value
    assert again.captions[0].startswith("16 samples of GAN") and "seed 5, truncated" in again.captions[0]


def test_bad_values_in_a_link_are_reported_and_the_defaults_used(app, tmp_path):
    app.query_params.update({"model": "no-such-model", "seed": "minus one", "grid": "13"})
    app.run()
    assert not app.exception and not app.error
    assert app.sidebar.selectbox[0].value == str(tmp_path / "mnist-vae")
    assert "no-such-model" in app.sidebar.warning[0].value
    app.run()  # a rerun (a live component's first message makes one within a second): still said
    assert "no-such-model" in app.sidebar.warning[0].value
    assert any("seed=minus one" in w.value and "not a whole number" in w.value for w in app.warning)
    assert app.number_input(key="home_seed").value == 0
    assert app.query_params["model"] == "mnist-vae" and app.query_params["seed"] == "0"  # the address is corrected
    app.switch_page("views/sample.py").run()
    assert not app.exception and not app.error
    (warning,) = [w for w in app.warning if "grid=13" in w.value]
    assert ui.plain("choose one of 4, 6, 8, 10, 12") in warning.value
    assert images(app.main)[0].captions[0].startswith("64 samples of VAE") and app.query_params["grid"] == "8"
    app.run()  # a rerun, as a live component's first message makes within a second: the warning stays
    assert [w for w in app.warning if "grid=13" in w.value]
    app.select_slider(key="sample_grid").set_value(6).run()  # the user acts: it goes
    assert not [w for w in app.warning if "grid=13" in w.value] and app.query_params["grid"] == "6"
