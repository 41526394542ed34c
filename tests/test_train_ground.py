"""Ground embeddings: the published dict format, and LUCAS photos encoded with open_clip."""

import numpy as np
import pytest

from tsmap.errors import DataError, InputError
from tsmap.text_model import DEFAULT_MODEL
from tsmap_train.ground import _image_tower, encode_photos, load_embedding_file, photo_path
from tsmap_train.testing import write_embedding_file


def test_embedding_file_lookup_by_point_and_view(tmp_path):
    rng = np.random.default_rng(0)
    entries = {f"DE_12345678{d}": rng.normal(size=512) for d in "WEN"} | {"FR_87654321S": rng.normal(size=512)}
    emb = load_embedding_file(write_embedding_file(str(tmp_path / "e.pt"), entries))
    views, have = emb.views("12345678")
    assert views.shape == (4, 512) and have.tolist() == [True, True, True, False]
    np.testing.assert_array_equal(views[2], entries["DE_12345678N"].astype(np.float32))
    assert (views[3] == 0).all() and emb.point_ids() == {"12345678", "87654321"} and emb.dim == 512


def test_embedding_file_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_embedding_file(str(tmp_path / "none.pt"))
    write_embedding_file(str(tmp_path / "mixed.pt"), {"DE_1W": np.ones(4), "DE_1E": np.ones(5)})
    with pytest.raises(DataError, match="mix vector sizes"):
        load_embedding_file(str(tmp_path / "mixed.pt"))
    import torch

    torch.save({"DE_1W": {"nested": 1}}, tmp_path / "odd.pt")
    with pytest.raises(
        DataError, match=r"odd\.pt': entry 'DE_1W' is not '\{NUTS0\}_\{POINT_ID\}\{W\|E\|N\|S\}' -> tensor"
    ):
        load_embedding_file(str(tmp_path / "odd.pt"))


def test_photos_encoded_with_the_image_tower(tmp_path):
    import open_clip
    import torch
    from PIL import Image

    rng = np.random.default_rng(1)
    nested = tmp_path / "DE" / "406" / "832"
    nested.mkdir(parents=True)
    for d in "WES":  # N is missing
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(nested / f"40683280{d}.jpg")
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "11111111N.jpg")  # flat layout
    assert photo_path(str(tmp_path), "40683280", "N", "DE") is None
    emb = encode_photos(str(tmp_path), {"40683280": "DE", "11111111": None}, clip_pretrained="none", batch_size=2)
    views, have = emb.views("40683280")
    assert have.tolist() == [True, True, False, True] and emb.views("11111111")[1].tolist() == [
        False,
        False,
        True,
        False,
    ]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model, _, pre = open_clip.create_model_and_transforms(DEFAULT_MODEL, pretrained=None)
    with torch.inference_mode():
        direct = model.eval().encode_image(pre(Image.open(nested / "40683280E.jpg").convert("RGB"))[None]).numpy()[0]
    np.testing.assert_allclose(views[1], direct, rtol=1e-4, atol=1e-4)
    assert not np.allclose(views[0], views[1])
    from open_clip.transformer import QuickGELU

    tower = _image_tower(DEFAULT_MODEL, "none")[0].visual  # the network --photos built: OpenAI's QuickGELU one
    assert all(isinstance(b.mlp.gelu, QuickGELU) for b in tower.transformer.resblocks)
    with pytest.raises(InputError, match="photo folder"):
        encode_photos(str(tmp_path / "nope"), {}, clip_pretrained="none")
