"""A family the project has never seen, defined here in one small class and registered in the test, trains
through the training library, evaluates and opens on every page: no other file knows it."""

import shutil
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest
from torch import nn

from genviz import load_model, ui
from genviz.metrics import mse, psnr
from genviz.models import REGISTRY, Family, explorable_families, variants
from genviz.models.base import GenerativeModel, ModelConfig
from genviz.training import TrainConfig, train_model
from genviz.training.evaluate import evaluate
from support.apptest import images, open_page

pytestmark = pytest.mark.slow
PAGES = ("home", "map", "sample", "sliders", "interpolate", "reconstruct", "anomaly")


@dataclass
class MLPConfig(ModelConfig):
    hidden: int = 64  # units of the one hidden layer on each side

    @property
    def kind(self) -> str:
        return "mlp-ae"

    @property
    def display_name(self) -> str:
        return "multilayer-perceptron autoencoder"


class MLPAutoEncoder(GenerativeModel):
    """Flattened pixels -> hidden -> z -> hidden -> pixels; its prior is N(0, I), unfitted."""

    family = "mlp-ae"

    def __init__(self, config: MLPConfig):
        super().__init__()
        self.config = config
        pixels = config.image_shape[0] * config.image_shape[1] * config.image_shape[2]
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(pixels, config.hidden), nn.ReLU(), nn.Linear(config.hidden, config.latent_dim)
        )
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim, config.hidden), nn.ReLU(), nn.Linear(config.hidden, pixels),
            nn.Unflatten(1, config.image_shape),
        )  # fmt: skip

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

    def loss(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return {"loss": F.mse_loss(self.decode(self.encode(batch)), batch)}

    @torch.no_grad()
    def test_figures(self, x, labels, generator) -> dict:
        recon = self.reconstruct(x)
        return {"test_mse": mse(recon, x), "test_psnr_db": psnr(recon, x)}


@pytest.fixture(scope="module")
def registered():
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(REGISTRY, "mlp-ae", Family(MLPAutoEncoder, MLPConfig, {"mlp-ae": {}}))
        yield


@pytest.fixture(scope="module")
def checkpoints(registered, trained, tmp_path_factory):
    """The new family trained on MNIST beside the session's classifier, which labels its samples."""
    root = tmp_path_factory.mktemp("new-family")
    out = train_model(
        TrainConfig(
            "mlp-ae", "mnist", root / "mnist-mlp-ae", epochs=2, latent_dim=8, batch_size=64, limit=2048,
            device="cpu", run_dir=root / "run", settings={"hidden": 48},
        )
    )  # fmt: skip
    shutil.copytree(trained["classifier"].out, root / "mnist-classifier")
    return root, out


def test_the_family_is_known_everywhere_once_registered(registered):
    assert "mlp-ae" in explorable_families() and variants()["mlp-ae"] == ("mlp-ae", {})


def test_it_trains_loads_and_evaluates(checkpoints, mnist_test):
    _, out = checkpoints
    model = load_model(out, "cpu")
    assert isinstance(model, MLPAutoEncoder) and model.config.hidden == 48
    x = mnist_test.float_images(slice(0, 256))
    untrained = MLPAutoEncoder(model.config).eval()
    assert mse(model.reconstruct(x), x).mean() < 0.5 * mse(untrained.reconstruct(x), x).mean()
    metrics = evaluate(out, limit=500, samples=500, probe_images=2000, compression_images=200)
    assert 0 < metrics["test_mse"] < 0.1 and metrics["test_psnr_db"] > 10
    # The diagnostics come with the capabilities: an exact encoder gets the probe and the rate-distortion curve.
    assert metrics["linear_probe"]["latent_accuracy"] > 0.5 and len(metrics["rate_distortion"]["model"]) == 7
    assert "latent_usage" not in metrics  # no posterior
    assert metrics["sample_fid_classifier"] > 0 and "sample_class_shares" in metrics
    assert "multilayer-perceptron autoencoder" in (out / "README.md").read_text()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_on_it(checkpoints, page, monkeypatch):
    root, _ = checkpoints
    monkeypatch.setattr(ui, "CHECKPOINTS", [root])
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(root / "cache"))
    app = open_page(AppTest.from_file("../genviz/app.py", default_timeout=300), f"views/{page}.py", "mnist-mlp-ae")
    if page == "reconstruct":  # it waits for uploads until told to take test images
        app.radio(key="recon_source").set_value("Test images").run()
    assert not app.exception and not app.error, (app.exception, app.error)
    assert images(app.main) or app.get("plotly_chart"), f"{page} shows nothing"
