"""The static site (genviz.site): every file model.json lists is there with its sha256 and size, the map, latent scale
and decoder are the ones the app uses, thumbnails are shared, and every refusal names the checkpoint and leaves the
folder as it was."""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from genviz import explore, site
from genviz import latent as lt
from genviz.checkpoint import load_model
from genviz.explore import load_bundle
from genviz.export import cached_decoder
from genviz.site import MAX_FACT, SiteError, browser_model, main, write_site

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
MODELS = ["mnist-vae", "mnist-ae", "cifar10-vae", "mnist-gan", "mnist-cvae", "mnist-pytorch-vae"]
MNIST_THUMBNAILS, CIFAR_THUMBNAILS = "mnist-test-5000-seed0", "cifar10-jpg-test-2000-seed0"


def copy_checkpoints(root: Path, names, bundles: bool = True) -> Path:
    """Copies of shipped checkpoints (and the thumbnails their bundles share) under root."""
    for name in names:
        ignore = None if bundles else shutil.ignore_patterns("explore")
        shutil.copytree(CHECKPOINTS / name, root / name, ignore=ignore)
    if not (root / "thumbnails").exists():
        shutil.copytree(CHECKPOINTS / "thumbnails", root / "thumbnails")
    return root


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".site-" in p.name or ".old-" in p.name]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One export cache for the module: each decoder is exported once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENVIZ_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return copy_checkpoints(tmp_path_factory.mktemp("checkpoints"), [*MODELS, "mnist-classifier"])


@pytest.fixture(scope="module")
def written(root, cache, tmp_path_factory):
    """The site of all MODELS, the report and what it said."""
    out, said = tmp_path_factory.mktemp("sites") / "site", []
    report = write_site([root / name for name in MODELS], out, say=said.append)
    return out, report, said


def model_json(out: Path, name: str) -> dict:
    return json.loads((out / "models" / name / "model.json").read_text())


@pytest.mark.slow
def test_the_site_holds_each_listed_file_with_its_sha256_and_size(written):
    out, _, _ = written
    index = json.loads((out / "site.json").read_text())
    assert index["format"] == 1 and index["generator"] == "genviz 0.1.0" and index["made"].endswith(" UTC")
    assert index["models"] == [{"name": name, "folder": f"models/{name}/"} for name in MODELS]
    for what, (source, name) in site.PAGE_FILES.items():
        assert (out / name).read_bytes() == (site.BUILD / source).read_bytes(), what
    assert (out / site.WASM).read_bytes() == (site.BUILD / site.WASM).read_bytes()
    for name in MODELS:
        described = model_json(out, name)
        assert described["format"] == 1 and described["name"] == name
        assert set(described["files"]) == {"decoder.onnx", "map.safetensors", "latent.safetensors"}
        for file, record in described["files"].items():
            data = (out / "models" / name / file).read_bytes()
            assert record == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}, (name, file)
        assert sorted(p.name for p in (out / "models" / name).iterdir()) == sorted([*described["files"], "model.json"])
    # Every folder readable by anyone (a web server's user), every path relative and of this origin.
    for path in [out, *out.rglob("*")]:
        need = stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0)
        assert path.stat().st_mode & need == need, path
    for text in [(out / "site.json").read_text(), *((out / "models" / n / "model.json").read_text() for n in MODELS)]:
        assert "://" not in text and '"/' not in text
    assert not leftovers(out.parent)


@pytest.mark.slow
def test_the_map_is_the_bundles_umap_map_without_tiles(written, root):
    out, _, _ = written
    for name in MODELS:
        bundle = load_bundle(root / name)
        projection = bundle.map("umap")
        arrays = load_file(out / "models" / name / "map.safetensors")
        numbered = {"numbers"} if bundle.positions is not None else set()  # test images' numbers, as the app shows
        assert set(arrays) == {"coords", "labels", "latents"} | numbered, name  # no tiles: the site has them once
        if numbered:
            np.testing.assert_array_equal(arrays["numbers"], bundle.positions)
        assert arrays["coords"].dtype == np.float32 and arrays["latents"].dtype == np.float32
        assert arrays["labels"].dtype == np.int16
        np.testing.assert_array_equal(arrays["coords"], projection.coords)
        np.testing.assert_array_equal(arrays["latents"], projection.latents)
        np.testing.assert_array_equal(arrays["labels"], projection.labels)
        described = model_json(out, name)
        assert described["map"] == {"method": "umap", "settings": {"n_neighbors": 15, "min_dist": 0.1, "seed": 0},
                                    "n": len(projection.labels)}  # fmt: skip


@pytest.mark.slow
def test_the_latent_file_holds_the_models_scale_and_the_bundles_directions(written, root):
    out, _, _ = written
    for name in MODELS:
        model, bundle = load_model(root / name, "cpu"), load_bundle(root / name)
        arrays = load_file(out / "models" / name / "latent.safetensors")
        centre, spread = model.latent_scale()
        np.testing.assert_array_equal(arrays["centre"], centre.numpy())
        np.testing.assert_array_equal(arrays["spread"], spread.numpy())
        np.testing.assert_array_equal(arrays["directions"], bundle.directions)
        np.testing.assert_array_equal(arrays["spreads"], bundle.spreads)
        np.testing.assert_array_equal(arrays["dimension_order"], bundle.dimension_order)
        assert arrays["dimension_order"].dtype == np.int32 and arrays["centre"].shape == (model.latent_dim,)
        if name != "mnist-cvae":
            assert "class_centre" not in arrays and "class_spread" not in arrays, name
    cvae = load_model(root / "mnist-cvae", "cpu")
    arrays = load_file(out / "models" / "mnist-cvae" / "latent.safetensors")
    assert arrays["class_centre"].shape == arrays["class_spread"].shape == (10, cvae.latent_dim)
    for c in range(10):
        centre, spread = cvae.latent_scale(c)
        np.testing.assert_array_equal(arrays["class_centre"][c], centre.numpy())
        np.testing.assert_array_equal(arrays["class_spread"][c], spread.numpy())
    assert model_json(out, "mnist-cvae")["conditional"] is True


@pytest.mark.slow
def test_the_decoder_is_the_one_the_app_sends(written, root):
    out, _, _ = written
    for name in MODELS:
        assert (out / "models" / name / "decoder.onnx").read_bytes() == cached_decoder(root / name).read_bytes()


@pytest.mark.slow
def test_mnist_models_share_one_copy_of_the_bundles_tiles(written, root):
    out, _, _ = written
    assert sorted(p.name for p in (out / "thumbnails").iterdir()) == sorted([MNIST_THUMBNAILS, CIFAR_THUMBNAILS])
    for name in ("mnist-vae", "mnist-ae", "mnist-cvae", "mnist-pytorch-vae", "cifar10-vae"):
        described, bundle = model_json(out, name)["thumbnails"], load_bundle(root / name)
        folder = MNIST_THUMBNAILS if name.startswith("mnist") else CIFAR_THUMBNAILS
        assert described["folder"] == f"thumbnails/{folder}/"
        assert described["layout"] == {"per_tile": 1000, "columns": 40, "shape": list(bundle.image_shape)}
        assert len(described["tiles"]) == len(bundle.tiles) == (5 if name.startswith("mnist") else 2)
        got = [(out / described["folder"] / tile).read_bytes() for tile in described["tiles"]]
        assert got == bundle.atlas_tiles()
    assert len(list((out / "thumbnails" / MNIST_THUMBNAILS).iterdir())) == 5  # the tiles, nothing else


@pytest.mark.slow
def test_a_checkpoint_copied_alone_with_its_thumbnails_embedded_makes_the_same_site_offline(
    written, tmp_path, monkeypatch
):
    out, _, _ = written
    source = copy_checkpoints(tmp_path / "source", ["mnist-vae"]) / "mnist-vae"
    assert explore.main(["--embed", str(source)]) == 0
    copy = shutil.copytree(source, tmp_path / "elsewhere" / "mnist-vae")  # no thumbnails beside it
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path / "no-data"))
    write_site([copy], tmp_path / "site", say=lambda _: None)
    assert load_bundle(copy).thumbnails_place == "own"
    assert files_of(tmp_path / "site" / "thumbnails") == {
        path: data for path, data in files_of(out / "thumbnails").items() if path.startswith(MNIST_THUMBNAILS)
    }
    assert files_of(tmp_path / "site" / "models") == {
        path: data for path, data in files_of(out / "models").items() if path.startswith("mnist-vae/")
    }


def test_a_generator_that_ignores_the_latents_length_offers_no_temperature(cache):
    """model.json says so for the site's Sample view, which then offers truncation only."""
    assert browser_model(CHECKPOINTS / "mnist-progan", "p").info["ignores_latent_length"] is True
    assert browser_model(CHECKPOINTS / "mnist-gan", "g").info["ignores_latent_length"] is False


@pytest.mark.slow
def test_a_gans_prior_points_have_no_thumbnails(written):
    out, _, _ = written
    described = model_json(out, "mnist-gan")
    assert described["points"] == "prior" and described["thumbnails"] is None and described["exact_encoder"] is False
    assert model_json(out, "mnist-vae")["points"] == "test"


@pytest.mark.slow
def test_model_json_describes_the_model_and_its_card(written, root):
    out, _, _ = written
    described, model = model_json(out, "mnist-vae"), load_model(root / "mnist-vae", "cpu")
    assert described["kind"] == "vae" and described["display_name"] == model.display_name
    assert described["dataset"] == "mnist" and described["class_names"] == [str(i) for i in range(10)]
    assert described["image_shape"] == [1, 28, 28] and described["latent_dim"] == 16
    assert described["conditional"] is False and described["exact_encoder"] is True
    assert described["max_sliders"] == lt.MAX_SLIDERS == 64
    assert (described["prior_name"], described["directions_name"], described["dimension_order_name"]) == (
        model.prior_name,
        model.directions_name,
        model.dimension_order_name,
    )
    card = described["card"]
    assert card["summary"].startswith("A convolutional variational autoencoder with a 16-dimensional latent space")
    facts = dict(card["facts"])
    assert facts["image shape"] == "1x28x28" and facts["latent size"] == "16" and facts["test_psnr_db"] == "22.61"
    metrics = json.loads((root / "mnist-vae" / "metrics.json").read_text())
    short = [k for k, v in metrics.items() if not isinstance(v, dict | list) and len(str(v)) <= MAX_FACT]
    assert [k for k, _ in card["facts"][2:]] == short and "latent_usage" not in facts  # nested ones left out
    assert "likelihood_note" in metrics and "likelihood_note" not in facts  # a sentence: the full card's, not a fact
    cifar = model_json(out, "cifar10-vae")
    assert cifar["dataset"] == "cifar10-jpg" and cifar["image_shape"] == [3, 32, 32]


@pytest.mark.slow
def test_the_report_counts_each_models_bytes_and_the_shared_ones(written):
    out, report, said = written
    assert report.out == out and list(report.models) == MODELS
    for name in MODELS:
        assert report.models[name] == sum(p.stat().st_size for p in (out / "models" / name).iterdir())
    assert report.points == {name: model_json(out, name)["map"]["n"] for name in MODELS}
    thumbnails = sum(p.stat().st_size for p in (out / "thumbnails").rglob("*") if p.is_file())
    assert report.shared == {
        "page": (out / "index.html").stat().st_size,
        "script": (out / "site.js").stat().st_size,
        "wasm": (out / site.WASM).stat().st_size,
        "thumbnails": thumbnails,
        "site.json": (out / "site.json").stat().st_size,
    }
    assert report.total == sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert said[: len(MODELS)] == [f"{n}: {report.points[n]:,} points, {site._size(report.models[n])}" for n in MODELS]
    assert said[-2].startswith(f"{out}: {site._size(report.total)} in all")
    assert said[-1] == f"View it with `python -m http.server -d {out}`, then open http://localhost:8000/"


def test_a_classifier_is_refused_and_nothing_is_written(root, tmp_path):
    out = tmp_path / "site"
    with pytest.raises(SiteError) as caught:
        write_site([root / "mnist-classifier", root / "mnist-vae"], out, say=lambda _: None)
    message = str(caught.value)
    assert str(root / "mnist-classifier") in message and "a classifier has no latent space" in message
    assert not out.exists() and not leftovers(tmp_path)


@pytest.mark.slow
def test_a_corrupted_checkpoint_fails_and_leaves_the_earlier_site(root, cache, tmp_path, capsys):
    broken = copy_checkpoints(tmp_path / "broken", ["mnist-vae"]) / "mnist-vae"
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    out = tmp_path / "site"
    assert main([str(root / "mnist-ae"), "--out", str(out)]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[0].startswith("mnist-ae: 5,000 points, ") and "python -m http.server -d" in said[-1]
    earlier = files_of(out)
    assert set(earlier) >= {"index.html", "site.js", "site.json", "models/mnist-ae/decoder.onnx"}

    assert main([str(root / "mnist-ae"), str(broken), "--out", str(out)]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and str(weights) in error[0] and "not a readable safetensors file" in error[0], error
    assert files_of(out) == earlier and not leftovers(tmp_path)


@pytest.mark.slow
def test_a_folder_that_is_no_site_is_replaced_only_with_force(root, cache, tmp_path):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "todo.txt").write_text("mine")
    with pytest.raises(SiteError, match=r"holds files and no site\.json .*--force"):
        write_site([root / "mnist-ae"], out, say=lambda _: None)
    assert files_of(out) == {"todo.txt": b"mine"}
    write_site([root / "mnist-ae"], out, force=True, say=lambda _: None)
    assert not (out / "todo.txt").exists() and (out / "models" / "mnist-ae" / "model.json").is_file()
    write_site([root / "mnist-vae"], out, say=lambda _: None)  # an earlier site is replaced without --force
    assert sorted(p.name for p in (out / "models").iterdir()) == ["mnist-vae"]


def test_a_folder_holding_a_checkpoint_is_refused_even_with_force(root):
    with pytest.raises(SiteError, match="holds the checkpoint"):
        write_site([root / "mnist-ae"], root, force=True, say=lambda _: None)
    assert (root / "mnist-ae" / "model.safetensors").is_file()


def test_two_checkpoints_of_one_name_are_refused(root, tmp_path):
    other = copy_checkpoints(tmp_path / "other", ["mnist-ae"]) / "mnist-ae"
    with pytest.raises(SiteError, match="two checkpoints named mnist-ae"):
        write_site([root / "mnist-ae", other], tmp_path / "site", say=lambda _: None)
    assert not (tmp_path / "site").exists()


def test_a_missing_bundle_without_its_dataset_says_where_to_build_it(tmp_path, monkeypatch):
    folder = copy_checkpoints(tmp_path / "checkpoints", ["mnist-ae"], bundles=False) / "mnist-ae"
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path / "no-data"))
    out = tmp_path / "site"
    with pytest.raises(SiteError) as caught:
        write_site([folder], out, say=lambda _: None)
    message = str(caught.value)
    assert message.startswith(f"{folder}: its explore bundle must be built") and "dataset cannot be read" in message
    assert f"`genviz explore {folder}`" in message
    assert not out.exists() and not leftovers(tmp_path) and not (folder / "explore").exists()


@pytest.mark.slow
def test_a_missing_bundle_is_built_where_the_dataset_can_be_read(cache, tmp_path):
    assert os.environ.get("GENVIZ_DATA_DIR"), "set GENVIZ_DATA_DIR to the folder that holds MNIST"
    folder = copy_checkpoints(tmp_path / "checkpoints", ["mnist-ae"], bundles=False) / "mnist-ae"
    said = []
    write_site([folder], tmp_path / "site", say=said.append)
    assert said[0] == f"{folder}: building its explore bundle (it has none)"
    projection = load_bundle(folder).map("umap")  # the bundle built, of the checkpoint's current weights
    arrays = load_file(tmp_path / "site" / "models" / "mnist-ae" / "map.safetensors")
    np.testing.assert_array_equal(arrays["coords"], projection.coords)
    np.testing.assert_array_equal(arrays["latents"], projection.latents)


def test_a_missing_build_file_names_the_command_that_makes_it(root, tmp_path, monkeypatch):
    (tmp_path / "build").mkdir()  # a build folder without the site's page: as before `make component` made it
    monkeypatch.setattr(site, "BUILD", tmp_path / "build")
    with pytest.raises(SiteError, match=r"site\.html is missing: rebuild the component with `make component`"):
        write_site([root / "mnist-ae"], tmp_path / "site", say=lambda _: None)
    assert not (tmp_path / "site").exists()


def test_the_site_module_imports_no_streamlit_and_the_component_shares_its_map_blob():
    code = "import sys, genviz.site; assert 'streamlit' not in sys.modules, 'streamlit imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)
    from genviz import component
    from genviz.mapdata import map_blob

    assert component.map_blob is map_blob
