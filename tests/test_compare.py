"""The Compare models page: its table and figures from hand-written metrics (no server), the page through AppTest
over checkpoint folders that hold only config.json and metrics.json, the tiny trained models with a real in-process
evaluation, and both datasets' charts drawn in Chromium."""

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from genviz import evaluation, ui
from genviz.checkpoint import LIKELIHOOD_NOTE, read_config
from genviz.data import DatasetError
from genviz.folders import find_checkpoints
from genviz.models import REGISTRY
from genviz.ui import compare
from support.apptest import open_page
from support.browser import CHROMIUM, FLAGS, missing_browser, serve

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
SHIPPED = ROOT / "checkpoints"
DIGITS = [str(d) for d in range(10)]
CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def usage(kl: list[float], active: list[bool]) -> dict:
    return {"kl_per_dimension_nats": kl, "posterior_mean_variance": [0.5 if a else 0.001 for a in active],
            "active": active, "active_units": sum(active), "dimensions": len(kl), "threshold": 0.01}  # fmt: skip


def rate_distortion(model_psnr: float, dims: int, pixels: int) -> dict:
    """A plausible curve: the code at 2-8 bits per dimension, and JPEG and WebP at four qualities."""
    model = [{"bits_per_dimension": b, "bits_per_image": float(b * dims), "entropy_bits_per_image": 0.8 * b * dims,
              "psnr_db": model_psnr - 6 / b} for b in (2, 4, 6, 8)]  # fmt: skip
    codec = lambda scale: [  # noqa: E731
        {"quality": q, "bits_per_image": scale * pixels * q / 50, "psnr_db": 14 + q / 8} for q in (10, 30, 60, 90)
    ]
    at = {"model": 4.0 * dims, "model_entropy": 3.2 * dims, "jpeg": 1.6 * pixels, "webp": 1.1 * pixels}
    return {"model": model, "jpeg": codec(2.0), "webp": codec(1.4), "bits_at_20db": at, "test_images": 2000}


def shares(classes: list[str], rare: int | None = None) -> dict:
    """Class shares, near uniform, with class `rare` (an index) drawn 1% of the time."""
    raw = [1.0 + 0.05 * (i % 3) for i in range(len(classes))]
    if rare is not None:
        raw[rare] = 0.01 * (sum(raw) - raw[rare]) / (1 - 0.01)
    total = sum(raw)
    return {name: r / total for name, r in zip(classes, raw, strict=True)}


def sample_figures(classes: list[str], fid: float, rare: int | None = None) -> dict:
    s = shares(classes, rare)
    return {"sample_fid_classifier": fid, "sample_precision": 0.7, "sample_recall": 0.6, "sample_class_shares": s,
            "sample_min_class_share": min(s.values()),
            "sample_class_entropy_bits": -sum(p * math.log2(p) for p in s.values())}  # fmt: skip


def new_style(kind: str, dims: int, classes: list[str], pixels: int, judge: str, collapsed: int = 0) -> dict:
    """Figures a current `genviz evaluate` writes, made up by hand for a model of this kind."""
    figures = {"evaluation": {"command": "genviz evaluate", "classifier": judge}}
    figures |= sample_figures(classes, 40.0 if kind == "gan" else 120.0, rare=3 if kind == "gan" else None)
    if kind == "gan":
        return figures
    figures |= {"test_ssim": 0.85, "rate_distortion": rate_distortion(23.0 if kind == "ae" else 22.0, dims, pixels)}
    figures["linear_probe"] = {"latent_accuracy": 0.93 if kind == "ae" else 0.88, "pixel_accuracy": 0.91,
                               "train_images": 60000, "test_images": 10000}  # fmt: skip
    if kind == "vae":
        kl = [round(3.0 * 0.9**d, 4) for d in range(dims - collapsed)] + [0.001] * collapsed
        figures["latent_usage"] = usage(kl, [True] * (dims - collapsed) + [False] * collapsed)
    return figures


def checkpoint(name: str, family: str, dims: int, metrics: dict, dataset: str = "mnist", **settings) -> tuple:
    config = {"family": family, "model": {"latent_dim": dims, **settings},
              "dataset": {"name": dataset, "class_names": DIGITS}, "training": {}}  # fmt: skip
    return compare.Checkpoint(name, Path(name), config, metrics, None)


VAE = new_style("vae", 16, DIGITS, 784, "checkpoints/mnist-classifier", collapsed=5)
AE = new_style("ae", 32, DIGITS, 784, "checkpoints/mnist-classifier")
GAN = new_style("gan", 16, DIGITS, 784, "checkpoints/mnist-classifier")


# The table and the figures, without Streamlit running -----------------------------------------------------


def test_rows_carry_the_figures_and_leave_missing_ones_empty():
    models = [
        checkpoint("mnist-vae", "vae", 16, {**VAE, "test_mse": 0.0066, "test_nll_iwae_nats": 89.58}),
        checkpoint("mnist-dae", "ae", 32, AE, corruption="gaussian"),
        checkpoint("mnist-gan", "gan", 16, GAN),
        checkpoint("mnist-new", "vae", 8, {}),
    ]
    vae, dae, gan, new = compare.rows(models)
    assert [vae["model"], vae["kind"], dae["kind"], gan["kind"]] == ["mnist-vae", "vae", "dae", "gan"]
    assert vae["latent dims"] == 16 and vae["active units"] == 11 and dae["latent dims"] == 32
    assert vae["MSE"] == 0.0066 and vae["IWAE NLL (nats)"] == 89.58 and vae["SSIM"] == 0.85
    assert vae["probe (latent)"] == 0.88 and vae["probe (pixels)"] == 0.91 and dae["probe (latent)"] == 0.93
    assert vae["bits at 20 dB"] == 64.0 and vae["JPEG bits at 20 dB"] == pytest.approx(1.6 * 784)
    assert gan["smallest class share"] == pytest.approx(0.01)
    assert gan["class entropy (bits)"] < vae["class entropy (bits)"] <= math.log2(10)
    # A figure the metrics lack is empty (None), not 0: a GAN has no reconstructions, an AE no ELBO.
    assert gan["MSE"] is None and gan["probe (latent)"] is None and gan["active units"] is None
    assert dae["negative ELBO (nats)"] is None and dae["active units"] is None and vae["CAS (generated)"] is None
    assert all(value is None for key, value in new.items() if key not in ("model", "kind", "latent dims"))
    assert set(compare.columns(10)) == set(vae)  # every column has its help text and format
    assert "log2 10 = 3.32" in compare.columns(10)["class entropy (bits)"]["help"]


def test_a_likelihood_in_bits_per_dimension_replaces_its_nats_in_the_table():
    gaussian = {"test_negative_elbo_nats": -2893.27, "test_negative_elbo_bits_per_dim": 6.6356,
                "test_nll_iwae_nats": -3103.74, "test_nll_iwae_bits_per_dim": 6.5368}  # fmt: skip
    bernoulli = {"test_negative_elbo_nats": 94.89, "test_nll_iwae_nats": 89.58}
    vae, mnist = compare.rows([checkpoint("cifar10-vae", "vae", 64, gaussian, likelihood="gaussian"),
                               checkpoint("mnist-vae", "vae", 16, bernoulli)])  # fmt: skip
    assert vae["negative ELBO (bits/dim)"] == 6.6356 and vae["IWAE NLL (bits/dim)"] == 6.5368
    assert vae["negative ELBO (nats)"] is None and vae["IWAE NLL (nats)"] is None  # a density: no comparable nats
    assert mnist["negative ELBO (nats)"] == 94.89 and mnist["IWAE NLL (bits/dim)"] is None
    said = compare.columns(10)["IWAE NLL (bits/dim)"]["help"]
    assert "IAF-VAE 3.11" in said and "NVAE 2.91" in said and "PNG" in said


def test_the_likelihood_line_says_what_each_models_figures_are_once_per_kind():
    said = compare.likelihoods([
        checkpoint("cifar10-vae", "vae", 64, {LIKELIHOOD_NOTE: "Bits per dimension, *with* the bin correction."}),
        checkpoint("mnist-vae", "vae", 16, {LIKELIHOOD_NOTE: "Nats per image."}),
        checkpoint("mnist-beta-vae", "vae", 32, {LIKELIHOOD_NOTE: "Nats per image."}),
        checkpoint("mnist-ae", "ae", 16, AE),
    ])  # fmt: skip
    first, second = said.split("  \n")  # the notes made literal: Markdown's escapes, no emphasis of their own
    assert first.startswith("**Likelihoods of `cifar10-vae`.** Bits per dimension") and r"\*with\*" in first
    assert second.replace("\\", "") == "**Likelihoods of `mnist-vae`, `mnist-beta-vae`.** Nats per image."
    assert compare.likelihoods([checkpoint("mnist-ae", "ae", 16, AE)]) is None


def test_malformed_metrics_give_empty_cells_and_no_chart_rather_than_a_crash():
    bad = {"test_mse": "low", "test_psnr_db": True, "test_ssim": float("nan"), "linear_probe": [0.9],
           "latent_usage": {"kl_per_dimension_nats": [1.0, "x"], "active": [True, False]},
           "sample_class_shares": {"0": None}, "rate_distortion": {"model": [{"bits_per_image": 0, "psnr_db": 20}]},
           "classification_accuracy_score": {"generated": {"a": 1}}}  # fmt: skip
    (row,) = compare.rows([checkpoint("mnist-odd", "vae", 2, bad)])
    assert {k for k, v in row.items() if v is not None} == {"model", "kind", "latent dims"}
    models = {"mnist-odd": bad}
    assert compare.kl_figure(models) is None and compare.class_share_figure(models, DIGITS) is None
    assert compare.rate_distortion_figure(models) is None and compare.probe_figure(models) is None


def test_the_kl_figure_sorts_dimensions_and_colours_collapsed_ones_apart():
    kl = [0.2, 0.001, 3.0, 0.0004, 1.5, 0.002]
    models = {"mnist-vae": {"latent_usage": usage(kl, [True, False, True, False, True, False])}, "mnist-ae": AE,
              "mnist-wide": VAE}  # fmt: skip
    fig = compare.kl_figure(models)
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["mnist-vae: 3 of 6 active", "mnist-wide: 11 of 16 active"]  # the AE has no posterior
    active, collapsed = fig.data[0], fig.data[1]
    assert active.name == "active" and collapsed.name == "collapsed"
    assert active.marker.color == compare.ACTIVE and collapsed.marker.color == compare.COLLAPSED != compare.ACTIVE
    assert list(active.y) == [3.0, 1.5, 0.2] and list(active.customdata) == [2, 4, 0]  # highest KL first
    assert list(active.x) == [1, 2, 3] and list(collapsed.x) == [4, 5, 6]  # ranks across both colours
    assert list(collapsed.customdata) == [5, 1, 3]
    marks = fig.data[2]  # an x on the axis under each collapsed bar, which is too low to see
    assert marks.mode == "markers" and marks.marker.symbol == "x" and marks.marker.color == compare.COLLAPSED
    assert list(marks.x) == [4, 5, 6] and list(marks.y) == [0, 0, 0]
    assert [t.showlegend for t in fig.data] == [True, True, False, False, False, False]  # one entry per colour
    assert fig.data[4].yaxis == "y2" and len(fig.data[4].y) == 5  # the second model, in its own row


def test_the_class_share_figure_marks_the_uniform_share_and_names_each_entropy():
    fig = compare.class_share_figure({"mnist-vae": VAE, "mnist-gan": GAN, "mnist-ae": {}}, DIGITS)
    assert [t.type for t in fig.data] == ["bar", "bar"] and fig.layout.barmode == "group"
    assert list(fig.data[0].x) == DIGITS and fig.data[1].y[3] == pytest.approx(0.01)
    assert fig.data[0].name == f"mnist-vae ({VAE['sample_class_entropy_bits']:.2f} bits)"
    (uniform,) = fig.layout.shapes
    assert uniform.y0 == uniform.y1 == pytest.approx(0.1) and uniform.line.dash == "dash"
    assert fig.layout.annotations[0].text == "uniform (1/10)"
    # Class names are level where they fit and upright where they do not: slanted, their boxes overlap.
    assert list(fig.layout.xaxis.autotickangles) == [0, 90]
    # An older metrics.json without the entropy: computed from its shares.
    older = {k: v for k, v in GAN.items() if k != "sample_class_entropy_bits"}
    assert compare.class_entropy(older) == pytest.approx(GAN["sample_class_entropy_bits"])


def test_the_rate_distortion_figure_sets_each_model_against_jpeg_and_webp():
    fig = compare.rate_distortion_figure({"mnist-gan": GAN, "mnist-vae": VAE, "mnist-ae": AE})
    assert [t.name for t in fig.data] == ["mnist-vae", "mnist-ae", "JPEG", "WebP"]
    vae = fig.data[0]
    assert list(vae.x) == [32.0, 64.0, 96.0, 128.0] and list(vae.customdata) == [2, 4, 6, 8]
    assert "bits/dimension" in vae.hovertemplate and vae.mode == "lines+markers"
    assert fig.data[2].line.dash == fig.data[3].line.dash == "dash" and len(fig.data[2].x) == 4
    assert fig.layout.xaxis.type == "log"
    (line,) = fig.layout.shapes
    assert line.y0 == line.y1 == 20 and line.line.dash == "dot"


def test_the_probe_figure_has_a_bar_per_model_and_the_raw_pixel_line():
    fig = compare.probe_figure({"mnist-vae": VAE, "mnist-gan": GAN, "mnist-ae": AE})
    (bars,) = fig.data
    assert list(bars.x) == ["mnist-vae", "mnist-ae"] and list(bars.y) == [0.88, 0.93]
    (pixels,) = fig.layout.shapes
    assert pixels.y0 == pixels.y1 == 0.91 and pixels.line.dash == "dash"
    assert fig.layout.annotations[0].text == "raw pixels (91.0%)"
    # The label right of the plot, clear of the bars' labels; names level or upright, never slanted into each other.
    assert fig.layout.annotations[0].xanchor == "left" and fig.layout.annotations[0].x == 1
    assert list(fig.layout.xaxis.autotickangles) == [0, 90]
    assert compare.probe_figure({"mnist-gan": GAN}) is None


def test_names_from_checkpoints_are_escaped_in_the_figures():
    fig = compare.probe_figure({"<b>bold</b>": VAE})
    assert list(fig.data[0].x) == ["&lt;b&gt;bold&lt;/b&gt;"]


def test_the_judging_classifier_is_named_with_its_accuracy():
    classifier = compare.Checkpoint("mnist-classifier", Path("c"), {}, {"test_accuracy": 0.9916}, None)
    models = [checkpoint("mnist-vae", "vae", 16, VAE), checkpoint("mnist-gan", "gan", 16, GAN)]
    said = compare.judges(models, [classifier], "mnist")
    assert "`checkpoints/mnist-classifier` (99.16% test accuracy)" in said
    unjudged = compare.judges([checkpoint("mnist-vae", "vae", 16, {})], [], "mnist")
    assert "No classifier" in unjudged and "--model classifier --dataset mnist" in unjudged


def test_the_command_measures_a_metric_or_whatever_is_missing():
    folders = [Path.cwd() / "checkpoints" / "mnist-vae", Path("/elsewhere/mnist ae")]
    assert compare.command(folders, "linear-probe") == (
        "genviz evaluate --metrics linear-probe checkpoints/mnist-vae '/elsewhere/mnist ae'"
    )
    assert compare.command(folders[:1]) == "genviz evaluate --missing checkpoints/mnist-vae"


def test_track_fills_a_progress_bar_and_says_each_step():
    def script():
        from genviz.ui.compare import Track

        track = Track()
        assert list(track(iter(range(5)), 5, "latent usage")) == list(range(5))
        assert list(track(iter([]), 0, "nothing to do")) == []

    at = AppTest.from_function(script).run()
    assert not at.exception
    (bar,) = at.get("progress")
    assert bar.proto.value == 100 and bar.proto.text == "nothing to do: done"
    lines = [m.value for m in at.markdown]
    assert lines[0].startswith("- latent usage: done in ") and lines[1].startswith("- nothing to do: done in ")


# The page through AppTest ---------------------------------------------------------------------------------


# The figures the evaluator gained with the Compare page; CIFAR-10's sample figures came with its classifier.
NEW = {"test_ssim", "latent_usage", "linear_probe", "rate_distortion", "classification_accuracy_score"}
NEW |= {"sample_class_entropy_bits"}


def earlier(name: str, metrics: dict) -> dict:
    """A shipped checkpoint's metrics as the evaluator measured them before it gained NEW (and before a CIFAR-10
    classifier judged CIFAR-10's samples)."""
    cifar = name.startswith("cifar10")
    kept = {k: v for k, v in metrics.items() if k not in NEW and not (cifar and k.startswith("sample_"))}
    if cifar:
        kept["evaluation"] = kept["evaluation"] | {"classifier": "none: no cifar10-jpg-classifier"}
    return kept


def figures_only(root: Path, names: list[str], extra: dict[str, dict] | None = None) -> Path:
    """Copies of shipped checkpoints with only their config.json and metrics.json (no weights: the page must not
    need them), the metrics as `earlier` gives them with `extra` merged into the named ones'."""
    for name in names:
        (root / name).mkdir(parents=True)
        shutil.copy(SHIPPED / name / "config.json", root / name)
        shipped = json.loads((SHIPPED / name / "metrics.json").read_text())
        metrics = earlier(name, shipped) | (extra or {}).get(name, {})
        (root / name / "metrics.json").write_text(json.dumps(metrics))
    return root


@pytest.fixture
def page(tmp_path, monkeypatch):
    """The Compare page alone over copies of shipped checkpoints' config and metrics, MNIST's with new figures
    (the AE's but its linear probe)."""
    judge = "checkpoints/mnist-classifier"
    ae = {k: v for k, v in new_style("ae", 16, DIGITS, 784, judge).items() if k != "linear_probe"}
    extra = {"mnist-vae": new_style("vae", 16, DIGITS, 784, judge, 4), "mnist-ae": ae}
    extra["mnist-gan"] = new_style("gan", 16, DIGITS, 784, judge)
    names = ["mnist-vae", "mnist-ae", "mnist-gan", "mnist-classifier", "cifar10-vae"]
    monkeypatch.setattr(ui, "CHECKPOINTS", [figures_only(tmp_path / "checkpoints", names, extra)])
    return AppTest.from_file("../genviz/views/compare.py", default_timeout=60)


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_the_page_compares_a_datasets_models_without_loading_them(page, tmp_path):
    page.run()
    assert not page.exception and not page.error
    assert page.selectbox(key="compare_dataset").options == ["cifar10-jpg", "mnist"]
    page.selectbox(key="compare_dataset").set_value("mnist").run()
    assert page.query_params["dataset"] == "mnist"
    table = page.dataframe[0].value
    assert list(table["model"]) == ["mnist-ae", "mnist-gan", "mnist-vae"]  # the classifier judges; it is no row
    vae = table.set_index("model").loc["mnist-vae"]
    assert (
        vae["active units"] == 12
        and vae["latent dims"] == 16
        and vae["negative ELBO (nats)"] == pytest.approx(94.89, abs=0.01)
    )
    assert math.isnan(table.set_index("model").loc["mnist-gan"]["MSE"])  # empty, not 0
    assert "`checkpoints/mnist-classifier` (99.16% test accuracy)" in page.caption[0].value
    kl, classes, rd, probe = charts(page)
    assert kl["layout"]["annotations"][0]["text"] == "mnist-vae: 12 of 16 active"
    assert [t["name"].split(" (")[0] for t in classes["data"]] == ["mnist-ae", "mnist-gan", "mnist-vae"]
    assert [t["name"] for t in rd["data"]] == ["mnist-ae", "mnist-vae", "JPEG", "WebP"]
    assert probe["data"][0]["x"] == ["mnist-vae"]
    assert not page.info
    offers = [m.value for m in page.markdown if "lacks:" in m.value]
    assert offers == ["`mnist-ae` lacks: linear probe"]


def test_a_dataset_without_figures_says_which_command_computes_them(page):
    page.query_params["dataset"] = "cifar10-jpg"
    page.run()
    assert not page.exception and not page.get("plotly_chart")
    assert len(page.info) == 4  # one per chart
    assert "--metrics latent-usage" in page.info[0].value and "cifar10-vae" in page.info[0].value
    assert list(page.dataframe[0].value["model"]) == ["cifar10-vae"]
    assert "No classifier has judged" in page.caption[0].value


def test_a_dataset_the_link_names_wrongly_is_reported_and_the_chosen_models_opens(page):
    page.query_params["dataset"] = "imagenet"
    page.query_params["model"] = "cifar10-vae"
    page.run()
    assert not page.exception and "dataset=imagenet" in page.warning[0].value
    assert (
        page.selectbox(key="compare_dataset").value == "cifar10-jpg" and page.query_params["dataset"] == "cifar10-jpg"
    )


def test_the_page_opens_on_the_chosen_models_dataset(page, tmp_path):
    page.run()  # nothing chosen yet: the dataset of the model the picker opens on (mnist-vae)
    assert page.selectbox(key="compare_dataset").value == "mnist" and page.query_params["dataset"] == "mnist"
    chosen = AppTest.from_file("../genviz/views/compare.py", default_timeout=60)
    chosen.session_state["model_path"] = str(tmp_path / "checkpoints" / "cifar10-vae")  # picked on another page
    chosen.run()
    assert not chosen.exception and chosen.selectbox(key="compare_dataset").value == "cifar10-jpg"
    assert list(chosen.dataframe[0].value["model"]) == ["cifar10-vae"]
    linked = AppTest.from_file("../genviz/views/compare.py", default_timeout=60)
    linked.query_params["model"] = "cifar10-vae"
    linked.run()
    assert linked.selectbox(key="compare_dataset").value == "cifar10-jpg"
    linked = AppTest.from_file("../genviz/views/compare.py", default_timeout=60)
    linked.query_params.update({"model": "cifar10-vae", "dataset": "mnist"})  # the link's dataset wins
    linked.run()
    assert linked.selectbox(key="compare_dataset").value == "mnist"


def test_cifar10s_likelihoods_are_in_bits_per_dimension_and_say_how(page):
    page.query_params["dataset"] = "cifar10-jpg"
    page.run()
    vae = page.dataframe[0].value.set_index("model").loc["cifar10-vae"]
    assert vae["IWAE NLL (bits/dim)"] == pytest.approx(6.537, abs=1e-3) and pd.isna(vae["IWAE NLL (nats)"])
    assert vae["negative ELBO (bits/dim)"] == pytest.approx(6.636, abs=1e-3)
    (line,) = [c.value.replace("\\", "") for c in page.caption if c.value.startswith("**Likelihoods")]
    assert "`cifar10-vae`" in line and "256-bin correction" in line and "Theis et al. 2016" in line


def test_unreadable_checkpoints_are_listed_with_the_reason(page, tmp_path):
    root = tmp_path / "checkpoints"
    (root / "mnist-vae" / "metrics.json").write_text("{not json")
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("[]")
    page.query_params["dataset"] = "mnist"
    page.run()
    assert not page.exception
    warnings = [w.value for w in page.warning]
    assert any("`broken` is left out" in w and "JSON object" in w for w in warnings)
    assert any("`mnist-vae` is left out" in w and "not valid JSON" in w for w in warnings)
    assert list(page.dataframe[0].value["model"]) == ["mnist-ae", "mnist-gan"]


def test_computing_runs_the_evaluator_with_a_progress_bar_and_reruns(page, tmp_path, monkeypatch):
    asked = []

    def measured(path, metrics=None, track=None):
        asked.append((Path(path).name, metrics))
        assert list(track(range(3), 3, "encoding the test set")) == [0, 1, 2]
        probe = {"latent_accuracy": 0.95, "pixel_accuracy": 0.91, "train_images": 60000, "test_images": 10000}
        figures = json.loads((path / "metrics.json").read_text()) | {"linear_probe": probe}
        (path / "metrics.json").write_text(json.dumps(figures))
        return figures

    monkeypatch.setattr(evaluation, "evaluate", measured)
    page.query_params["dataset"] = "mnist"
    page.run()
    page.button(key="compute_mnist-ae").click().run()
    assert not page.exception and asked == [("mnist-ae", ["linear-probe"])]
    assert "Computed linear probe for `mnist-ae`" in page.success[0].value
    assert not [m.value for m in page.markdown if "lacks:" in m.value]
    assert "Every model here has all its figures." in [c.value for c in page.caption]
    assert page.dataframe[0].value.set_index("model").loc["mnist-ae"]["probe (latent)"] == 0.95
    assert charts(page)[3]["data"][0]["x"] == ["mnist-ae", "mnist-vae"]


def test_an_unreadable_dataset_is_said_in_words_and_the_page_stays(page, monkeypatch):
    def unreadable(path, metrics=None, track=None):
        raise DatasetError("no MNIST files under /nowhere")

    monkeypatch.setattr(evaluation, "evaluate", unreadable)
    page.query_params["dataset"] = "mnist"
    page.run()
    page.button(key="compute_mnist-ae").click().run()
    assert not page.exception
    (error,) = page.error
    assert "cannot be read" in error.value and "no MNIST files" in error.value and "`GENVIZ_DATA_DIR`" in error.value
    assert len(charts(page)) == 4 and len(page.dataframe[0].value) == 3  # drawn before the computation


@pytest.mark.slow
def test_the_app_lists_the_page_and_computes_a_tiny_models_figure(app, tmp_path):
    """Through the app's navigation, over the session's tiny trained checkpoints: new figures written by hand into
    the AE's and GAN's copies; the VAE's latent usage measured for real by the button, in this process."""
    judge = str(tmp_path / "mnist-classifier")
    test = {"ae": {"test_mse": 0.03}, "gan": {}, "vae": {"test_mse": 0.03, "test_nll_iwae_nats": 120.0}}
    for kind, figures in test.items():
        path = tmp_path / f"mnist-{kind}" / "metrics.json"
        metrics = json.loads(path.read_text()) | figures | new_style(kind, 8, DIGITS, 784, judge)
        metrics.pop("latent_usage", None)  # what the button measures (an earlier test may have measured it)
        path.write_text(json.dumps(metrics))
    vae = tmp_path / "mnist-vae" / "metrics.json"
    open_page(app, "views/compare.py")
    assert list(app.dataframe[0].value["model"]) == ["mnist-ae", "mnist-gan", "mnist-vae"]
    assert app.info[0].value.startswith("No `mnist` model has these figures yet")  # no KL chart yet
    assert [m.value for m in app.markdown if "lacks:" in m.value] == [
        "`mnist-vae` lacks: KL per dimension and active units"
    ]
    app.button(key="compute_mnist-vae").click().run()
    assert not app.exception and not app.error
    usage = json.loads(vae.read_text())["latent_usage"]
    assert usage["dimensions"] == 8 and len(usage["kl_per_dimension_nats"]) == 8
    kl = charts(app)[0]
    assert kl["layout"]["annotations"][0]["text"] == f"mnist-vae: {usage['active_units']} of 8 active"
    assert app.dataframe[0].value.set_index("model").loc["mnist-vae"]["active units"] == usage["active_units"]


# The page in Chromium -------------------------------------------------------------------------------------

MISSING = missing_browser()
CHARTS = "[data-testid=stMain] .js-plotly-plot"
# Per chart: its traces, and the marks its SVG drew (bars, or the points of lines).
DRAWN = """els => els.map(el => ({
    traces: el.data.length,
    marks: el.querySelectorAll('.bars .point path').length + el.querySelectorAll('.scatterlayer .trace').length,
}))"""


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(bool(MISSING), reason=MISSING or "")
def test_every_chart_is_drawn_for_both_datasets_in_a_browser(tmp_path):
    """Copies of the shipped checkpoints with their metrics as `genviz evaluate` measured them: both
    datasets' pages draw every chart, with one table row per model."""
    from playwright.sync_api import expect, sync_playwright

    root = tmp_path / "checkpoints"
    rows = {}
    for folder in find_checkpoints(SHIPPED):
        shutil.copytree(folder, root / folder.name, ignore=shutil.ignore_patterns("explore"))
        config = read_config(folder)
        if REGISTRY[config["family"]].model.explorable:
            rows.setdefault(config["dataset"]["name"], []).append(folder.name)
    assert sorted(rows) == ["cifar10-jpg", "mnist"]
    ARTIFACTS.mkdir(exist_ok=True)
    env = {"GENVIZ_CHECKPOINTS": str(root), "GENVIZ_CACHE_DIR": str(tmp_path / "cache")}
    with serve("genviz/app.py", env, log=tmp_path / "streamlit.log") as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 3600})  # the whole page in the screenshot
        page.set_default_timeout(120_000)
        for dataset, names in rows.items():
            page.goto(f"{server.url}/compare?dataset={dataset}")
            expect(page.get_by_role("heading", name="Compare models", exact=True)).to_be_visible()
            page.wait_for_function(f"() => document.querySelectorAll('{CHARTS} .main-svg').length >= 4")
            page.wait_for_timeout(300)
            expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=120_000)
            expect(page.get_by_test_id("stException")).to_have_count(0)
            drawn = page.locator(CHARTS).evaluate_all(DRAWN)
            assert len(drawn) == 4, drawn
            assert all(c["traces"] > 0 and c["marks"] > 0 for c in drawn), drawn
            table = page.get_by_test_id("stDataFrame")
            expect(table).to_have_count(1)
            shown = table.locator("[role=row] [aria-colindex='1']").all_inner_texts()
            assert [s for s in shown if s != "model"] == names, shown
            page.screenshot(path=ARTIFACTS / f"compare-{dataset}.png", full_page=True)
        browser.close()
