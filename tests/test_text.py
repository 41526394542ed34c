import numpy as np
import pytest

from tsmap.errors import ModelError
from tsmap.text import encode_texts, model_id


def test_random_tower_is_seeded_and_normalised(caplog):
    a = encode_texts(["a forest", "a lake"], pretrained="none")
    b = encode_texts(["a forest"], pretrained="none")
    assert a.shape == (2, 512) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(a[0], b[0], atol=1e-6)
    assert not np.allclose(a[0], a[1])


def test_unknown_model_and_missing_weights(tmp_path):
    with pytest.raises(ModelError, match="unknown open_clip model"):
        encode_texts(["x"], model="ViT-Nope", pretrained="none")
    with pytest.raises(ModelError, match="--clip-pretrained"):
        encode_texts(["x"], model="RN50", pretrained=str(tmp_path / "missing.bin"))


def test_model_id():
    assert model_id("ViT-B-32", "openai") == "open_clip:ViT-B-32/openai"
