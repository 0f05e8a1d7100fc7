"""The optional standard FID, run through torch-fidelity's real Inception code on randomly
initialised weights (the published ones cannot be downloaded here)."""

import pickle

import pytest
import torch
import torch_fidelity.feature_extractor_inceptionv3 as fidelity

from genviz import inception


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / inception.WEIGHTS_NAME
    patch = pytest.MonkeyPatch()
    patch.setattr(fidelity, "load_state_dict_from_url", lambda *a, **k: None)
    patch.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
    torch.manual_seed(0)
    model = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    patch.undo()
    for conv in (m for m in model.modules() if isinstance(m, torch.nn.Conv2d)):
        torch.nn.init.kaiming_normal_(conv.weight)  # keeps activations alive through 90 layers
    torch.save(model.state_dict(), path)
    return path


def test_unavailable_without_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("GENVIZ_INCEPTION_WEIGHTS", str(tmp_path / "absent.pth"))
    assert not inception.available()


@pytest.mark.slow
def test_fid_on_inception_features(random_weights, monkeypatch, mnist_test):
    monkeypatch.setenv("GENVIZ_INCEPTION_WEIGHTS", str(random_weights))
    assert inception.available()
    digits = mnist_test.float_images(slice(0, 24))
    noise = torch.rand(24, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    same = inception.fid(digits, digits, 12)
    assert abs(same) < 1e-2 and inception.fid(digits, noise, 12) > 10 * max(same, 1e-3)


def test_a_pickled_weights_file_is_refused_unopened(tmp_path, monkeypatch):
    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "ran"), "w"))

    path = tmp_path / "weights.pth"
    path.write_bytes(pickle.dumps(Payload()))
    monkeypatch.setenv("GENVIZ_INCEPTION_WEIGHTS", str(path))
    with pytest.raises(ValueError, match="not a plain state dict"):
        inception.fid(torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28), 4)
    assert not (tmp_path / "ran").exists()
