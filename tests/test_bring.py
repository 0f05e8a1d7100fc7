"""Bringing models genviz did not train (genviz.bring, genviz.models.onnx): every route, the tensor contract, the
capabilities a folder's files give, and each refusal with its words."""

import json
import shutil

import numpy as np
import onnxruntime
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from genviz import CheckpointError, load_model
from genviz.bring import BringError, from_diffusers, from_torch, main
from genviz.checkpoint import fingerprint, read_config
from genviz.data import load_dataset, to_float
from genviz.export import cached_decoder, module_onnx
from genviz.models.onnx import ONNXModel

# Most tests export small torch modules to ONNX (seconds each) and read MNIST: the slow set.
pytestmark = pytest.mark.slow
MNIST = {"image_shape": (1, 28, 28), "dataset": "mnist"}


class MLPDecoder(nn.Module):
    """pytorch/examples' VAE decoder, narrower: z (B, *latent_shape) -> (B, 1, 28, 28) in [0, 1]."""

    def __init__(self, latent=(8,), hidden=32, tanh=False):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(int(np.prod(latent)), hidden), nn.ReLU(), nn.Linear(hidden, 784)
        )
        self.tanh = tanh

    def forward(self, z):
        x = self.net(z).view(-1, 1, 28, 28)
        return torch.tanh(x) if self.tanh else torch.sigmoid(x)


class MLPEncoder(nn.Module):
    """(B, 1, 28, 28) -> (mean, logvar) or a code, each (B, *latent_shape)."""

    def __init__(self, latent=(8,), hidden=32, posterior=True):
        super().__init__()
        self.latent, self.posterior = latent, posterior
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU())
        self.heads = nn.ModuleList(nn.Linear(hidden, int(np.prod(latent))) for _ in range(1 + posterior))

    def forward(self, x):
        h = self.trunk(x)
        out = tuple(head(h).view(-1, *self.latent) for head in self.heads)
        return out if self.posterior else out[0]


def modules(seed=0, **options):
    torch.manual_seed(seed)
    latent = options.get("latent", (8,))
    return MLPDecoder(latent, tanh=options.get("tanh", False)), MLPEncoder(
        latent, posterior=options.get("posterior", True)
    )


@pytest.fixture(scope="module")
def vae_folder(tmp_path_factory):
    decoder, encoder = modules()
    out = tmp_path_factory.mktemp("brought") / "mnist-mlp-vae"
    from_torch(decoder, encoder, latent_shape=(8,), out=out, encoder_outputs="mean-logvar", likelihood="bernoulli",
               origin="a test's MLP VAE", bundle=False, **MNIST)  # fmt: skip
    return out, decoder, encoder


def test_a_torch_vae_opens_as_a_model_with_its_capabilities(vae_folder):
    out, decoder, encoder = vae_folder
    model = load_model(out)
    assert isinstance(model, ONNXModel) and model.kind == "onnx-vae" and model.latent_dim == 8
    assert model.has_exact_encoder and model.has_posterior and model.has_likelihood
    assert model.score_kinds == ("reconstruction", "elbo")
    config = read_config(out)
    assert config["family"] == "onnx" and config["model"]["latent_shape"] == [8]
    assert (
        config["training"]["origin"] == "a test's MLP VAE" and config["training"]["check_decoder_max_abs_diff"] <= 1e-3
    )
    card = (out / "README.md").read_text()
    assert card.startswith("# mnist-mlp-vae") and "Brought into genviz, not trained by it:** a test's MLP VAE" in card
    assert "check_encoder_max_abs_diff" in card and "| width |" not in card


def test_decode_and_encode_agree_with_the_torch_modules(vae_folder):
    out, decoder, encoder = vae_folder
    model = load_model(out)
    z = torch.randn(32, 8, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        assert (model.decode(z) - decoder(z)).abs().max() <= 1e-3
        x = to_float(load_dataset("mnist", "test").images[:32])
        mean, logvar = encoder(x)
        got_mean, got_logvar = model.encode_dist(x)
    assert (got_mean - mean).abs().max() <= 1e-3 and (got_logvar - logvar).abs().max() <= 1e-3
    assert torch.equal(model.encode(x), got_mean)


def test_the_browser_gets_the_graph_the_server_runs(vae_folder, tmp_path, monkeypatch):
    out, decoder, _ = vae_folder
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path))
    model = load_model(out)
    served = cached_decoder(out).read_bytes()
    assert served == model.onnx_decoder()
    session = onnxruntime.InferenceSession(served, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z"] and [o.name for o in session.get_outputs()] == ["images"]
    z = torch.randn(5, 8)
    (got,) = session.run(None, {"z": z.numpy()})
    with torch.no_grad():
        assert np.abs(got - decoder(z).numpy()).max() <= 1e-3


def test_the_elbo_is_pytorch_examples_loss(vae_folder):
    out, decoder, encoder = vae_folder
    model = load_model(out)
    x = to_float(load_dataset("mnist", "test").images[:16])
    generator = torch.Generator().manual_seed(3)
    score = model.anomaly_score(x, "elbo", generator)
    with torch.no_grad():  # pytorch/examples' loss_function, per image, with the same posterior sample
        mu, logvar = encoder(x)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
        recon = decoder(mu + eps * torch.exp(0.5 * logvar))
        bce = nn.functional.binary_cross_entropy(recon, x, reduction="none").flatten(1).sum(1)
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), 1)
    assert torch.allclose(score, bce + kld, rtol=1e-4)


def test_a_latent_of_any_shape_is_flat_in_c_order(tmp_path):
    torch.manual_seed(0)
    latent = (4, 2, 2)
    decoder, encoder = modules(latent=latent, posterior=False)
    out = from_torch(decoder, encoder, latent_shape=latent, out=tmp_path / "conv", bundle=False, **MNIST)
    model = load_model(out)
    assert model.latent_dim == 16 and model.config.latent_shape == latent
    z = torch.randn(3, 16)
    with torch.no_grad():
        assert (model.decode(z) - decoder(z.reshape(3, *latent))).abs().max() <= 1e-3
        x = torch.rand(3, 1, 28, 28)
        assert (model.encode(x) - encoder(x).reshape(3, -1)).abs().max() <= 1e-3


def test_a_code_encoder_gets_a_prior_fitted_to_the_encoded_test_set(tmp_path):
    decoder, encoder = modules(posterior=False)
    out = from_torch(decoder, encoder, latent_shape=(8,), out=tmp_path / "ae", bundle=False, **MNIST)
    model = load_model(out)
    assert model.kind == "onnx-ae" and not model.has_posterior and model.score_kinds == ("reconstruction",)
    fitted = load_file(out / "prior.safetensors")
    with torch.no_grad():
        z = encoder(to_float(load_dataset("mnist", "test").images))
    assert torch.allclose(fitted["mean"], z.mean(0), atol=1e-4) and torch.allclose(fitted["std"], z.std(0), atol=1e-4)
    centre, spread = model.latent_scale()
    assert torch.equal(centre, fitted["mean"]) and torch.equal(spread, fitted["std"])
    assert model.prior_name.startswith("a Gaussian fitted")


def test_a_decoder_alone_samples_and_encodes_by_a_search(tmp_path):
    decoder, _ = modules(tanh=True)
    out = from_torch(decoder, latent_shape=(8,), pixel_range=(-1, 1), out=tmp_path / "gen", bundle=False, **MNIST)
    model = load_model(out)
    assert model.kind == "onnx-generator" and not model.has_exact_encoder and not model.has_posterior
    z = torch.randn(4, 8)
    with torch.no_grad():
        assert (model.decode(z) - (decoder(z) + 1) / 2).abs().max() <= 1e-3  # [-1, 1] shown as [0, 1]
    target = model.decode(model.prior(2, torch.Generator().manual_seed(5)))
    found = model.encode(target)
    assert found.shape == (2, 8)
    assert (model.decode(found) - target).pow(2).mean() < (model.decode(model.prior(2)) - target).pow(2).mean()


def test_onnx_files_from_any_framework_through_the_command_line(tmp_path, capsys):
    decoder, encoder = modules(posterior=False)
    paths = {}
    for name, module, example, outputs in (
        ("decoder", decoder, torch.randn(2, 8), ["images"]),
        ("encoder", encoder, torch.rand(2, 1, 28, 28), ["code"]),
    ):
        paths[name] = tmp_path / f"{name}.onnx"
        paths[name].write_bytes(module_onnx(module.eval(), example, "x", outputs, name))
    out = tmp_path / "mnist-onnx-ae"
    args = ["--decoder", str(paths["decoder"]), "--encoder", str(paths["encoder"]), "--dataset", "mnist"]
    assert main([*args, "--out", str(out), "--no-bundle", "--origin", "Keras, through tf2onnx"]) == 0
    model = load_model(out)
    assert model.config.latent_shape == (8,) and model.image_shape == (1, 28, 28) and model.kind == "onnx-ae"
    assert read_config(out)["training"]["command"].startswith("python")
    assert main([*args, "--out", str(out)]) == 1  # not over a folder that holds files
    assert "exists and is not empty" in capsys.readouterr().err
    wrong = ["--pixel-range", "-1,1", "--latent-shape", "8"]
    assert main([*args, *wrong, "--out", str(tmp_path / "x"), "--no-bundle"]) == 0  # [0, 1] lies within [-1, 1]
    assert main([*args, "--image-shape", "3,28,28", "--out", str(tmp_path / "y"), "--no-bundle"]) == 1
    assert "declared (batch, 1, 28, 28), but config.json says (batch, 3, 28, 28)" in capsys.readouterr().err


def test_a_decoder_outside_its_declared_range_is_refused(tmp_path):
    class Wide(nn.Module):
        def forward(self, z):
            return 255 * torch.sigmoid(z.sum(1)).view(-1, 1, 1, 1).expand(-1, 1, 28, 28)  # 0 to 255, not 0 to 1

    refusal = (
        r"decoder.onnx: a test decode of prior latents gives pixels from .* outside the declared pixel range 0 to 1; "
        r"is the range \(--pixel-range\) right\?"
    )
    with pytest.raises(BringError, match=refusal):
        from_torch(Wide(), latent_shape=(8,), out=tmp_path / "wide", bundle=False, **MNIST)
    assert not (tmp_path / "wide").exists() and not list(tmp_path.glob(".wide.bring-*"))  # nothing half-written
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    with pytest.raises(BringError, match=refusal):  # a failed overwrite leaves the folder as it was
        from_torch(Wide(), latent_shape=(8,), out=tmp_path / "kept", overwrite=True, bundle=False, **MNIST)
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["notes.txt"]


def test_an_export_that_differs_from_its_source_is_refused(tmp_path, monkeypatch):
    decoder, _ = modules()
    other, _ = modules(seed=1)
    real = module_onnx
    monkeypatch.setattr("genviz.bring.module_onnx", lambda m, *a: real(other.eval(), *a))
    with pytest.raises(
        BringError, match=r"the brought decoder differs from its source by .* \(at most 0.001 allowed\)"
    ):
        from_torch(decoder, latent_shape=(8,), out=tmp_path / "differs", bundle=False, **MNIST)


def test_opening_refuses_changed_or_missing_files_in_words(vae_folder, tmp_path):
    out = shutil.copytree(vae_folder[0], tmp_path / "copy")
    (out / "encoder.onnx").unlink()
    with pytest.raises(CheckpointError, match=r"encoder.onnx: does not exist"):
        load_model(out)
    out = shutil.copytree(vae_folder[0], tmp_path / "changed")
    data = bytearray((out / "decoder.onnx").read_bytes())
    data[-100] ^= 0xFF
    (out / "decoder.onnx").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"decoder.onnx: its SHA-256 is not the one config.json records"):
        load_model(out)
    config = json.loads((out / "config.json").read_text())
    config["model"] |= {"latent_shape": [2, 4], "decoder_sha256": ""}
    config["model"]["decoder_sha256"] = ""
    shutil.copy(vae_folder[0] / "decoder.onnx", out / "decoder.onnx")
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"decoder.onnx: the decoder's input 'z' is declared \(.*, 8\), but "
                                              r"config.json says \(batch, 2, 4\)"):  # fmt: skip
        load_model(out)


def test_the_fingerprint_covers_the_graphs(vae_folder, tmp_path):
    out = shutil.copytree(vae_folder[0], tmp_path / "copy")
    before = fingerprint(out)
    (out / "encoder.onnx").write_bytes((out / "encoder.onnx").read_bytes() + b"\0")
    assert fingerprint(out) != before


def diffusers_vae():
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(16, 32), layers_per_block=1,
        latent_channels=4, norm_num_groups=8, sample_size=32,
    )  # fmt: skip
    with torch.no_grad():  # an untrained decoder's pixels reach +-2: scaled into [-1, 1] as a trained one's are
        vae.decoder.conv_out.weight.mul_(0.05)
        vae.decoder.conv_out.bias.zero_()
    return vae.eval()


def test_a_diffusers_autoencoder_is_brought_with_its_posterior(tmp_path):
    vae = diffusers_vae()
    vae.save_pretrained(tmp_path / "vae", safe_serialization=True)
    out = from_diffusers(tmp_path / "vae", dataset="cifar10-jpg", out=tmp_path / "cifar10-kl", bundle=False)
    model = load_model(out)
    assert model.config.latent_shape == (4, 16, 16) and model.latent_dim == 1024 and model.has_posterior
    assert model.config.pixel_range == (-1.0, 1.0) and model.config.prior == "fitted"
    z = model.prior(3, torch.Generator().manual_seed(1))
    x = to_float(load_dataset("cifar10-jpg", "test").sample(4, 0).images)
    with torch.no_grad():
        want = ((vae.decode(z.reshape(3, 4, 16, 16)).sample + 1) / 2).clamp(0, 1)
        mean = vae.encode(2 * x - 1).latent_dist.mean.reshape(4, -1)
    assert (model.decode(z) - want).abs().max() <= 1e-3 and (model.encode(x) - mean).abs().max() <= 1e-3


def test_pickled_diffusers_weights_are_refused_in_words(tmp_path):
    folder = tmp_path / "vae"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    refusal = (
        r"only pickled weights \(diffusion_pytorch_model.bin\), which genviz never opens: a pickle can run any code; "
        r"save the model with save_pretrained"
    )
    with pytest.raises(BringError, match=refusal):
        from_diffusers(folder, dataset="cifar10-jpg", out=tmp_path / "out")


LOADER_FUZZ_EXAMPLES = 300


def test_the_loader_opens_or_refuses_damaged_graphs_in_words(vae_folder, tmp_path_factory):
    """A folder without digests (written by hand, not by genviz.bring) whose decoder.onnx is damaged: bit flips,
    overwritten ranges and truncations. Every one opens, and then decodes prior latents into [0, 1], or raises a
    CheckpointError naming the file; onnxruntime builds and runs every graph that passes genviz.onnxfile."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    folder = shutil.copytree(vae_folder[0], tmp_path_factory.mktemp("fuzz") / "mnist-damaged")
    config = json.loads((folder / "config.json").read_text())
    config["model"] |= {"decoder_sha256": "", "encoder_sha256": ""}
    (folder / "config.json").write_text(json.dumps(config))
    original = (folder / "decoder.onnx").read_bytes()
    outcomes = {"opened": 0, "refused": 0}

    @settings(max_examples=LOADER_FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.data())
    def damaged(data):
        raw = bytearray(original)
        for _ in range(data.draw(st.integers(1, 8))):
            at = data.draw(st.integers(0, len(raw) - 1))
            match data.draw(st.sampled_from(["flip", "overwrite", "truncate"])):
                case "flip":
                    raw[at] ^= 1 << data.draw(st.integers(0, 7))
                case "overwrite":
                    chunk = data.draw(st.binary(min_size=1, max_size=64))
                    raw[at : at + len(chunk)] = chunk
                case "truncate":
                    del raw[at:]
                    break
        (folder / "decoder.onnx").write_bytes(bytes(raw))
        try:
            model = load_model(folder)
        except CheckpointError as e:
            assert "decoder.onnx" in str(e) or "encoder.onnx" in str(e), str(e)
            outcomes["refused"] += 1
            return
        pixels = model.decode(model.prior(4, torch.Generator().manual_seed(0)))
        assert pixels.shape == (4, 1, 28, 28) and 0 <= pixels.min() and pixels.max() <= 1
        outcomes["opened"] += 1

    damaged()
    assert outcomes["opened"] and outcomes["refused"], outcomes
