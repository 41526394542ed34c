import numpy as np
import torch
import xarray as xr

from tsmap.encode import PixelEncoder, embed
from tsmap.model import EncoderConfig, build_encoder
from tsmap.preprocess import AUTHORS

SMALL = EncoderConfig(dim=32, depth=1, heads=4, mlp_dim=16, out_dim=8)


def test_pixel_encoder_matches_model_and_marks_nodata():
    model = build_encoder(SMALL)
    rng = np.random.default_rng(0)
    block = rng.uniform(0, 4000, size=(3, 4, 12, 10)).astype(np.float32)  # (y, x, month, band)
    block[0, 0] = np.nan  # no data at all
    block[1, 1, 5] = np.nan  # one missing month
    out = PixelEncoder(model, AUTHORS, device="cpu", batch_size=5)(block)
    assert out.shape == (3, 4, 8) and out.dtype == np.float32
    assert np.isnan(out[0, 0]).all()
    np.testing.assert_allclose(np.linalg.norm(out[1:], axis=-1), 1.0, rtol=1e-5)
    x = AUTHORS.normalise(block[2, 3])[None]
    with torch.inference_mode():
        ref = torch.nn.functional.normalize(model(torch.from_numpy(x)), dim=-1).numpy()[0]
    np.testing.assert_allclose(out[2, 3], ref, atol=1e-5)
    valid = torch.ones(1, 12, dtype=torch.bool)
    valid[0, 5] = False
    x = np.nan_to_num(AUTHORS.normalise(block[1, 1]))[None]
    with torch.inference_mode():
        ref = torch.nn.functional.normalize(model(torch.from_numpy(x), valid), dim=-1).numpy()[0]
    np.testing.assert_allclose(out[1, 1], ref, atol=1e-5)


def test_embed_is_lazy_and_chunked(no_compute):
    data = xr.DataArray(np.ones((12, 10, 6, 6), np.float32) * 500, dims=("month", "band", "y", "x")).chunk({"y": 3, "x": 3})
    emb = embed(data, PixelEncoder(build_encoder(SMALL), device="cpu"))
    assert emb.dims == ("embed", "y", "x") and emb.shape == (8, 6, 6)
    assert emb.chunks[1] == (3, 3)


def test_normalisation_rule():
    x = np.array([[67.0, 122.0, 93.27, 158.5, 160.77, 174.27, 162.27, 149.0, 84.5, 66.27]], np.float32)
    np.testing.assert_allclose(AUTHORS.normalise(x), 0.0, atol=1e-6)
    y = AUTHORS.normalise(np.full((1, 10), 1089.0, np.float32))
    assert y[0, 0] == np.float32((1089.0 - 67.0) / (2089.0 + 1e-6))
    assert AUTHORS.normalise(np.full((1, 10), 1e6, np.float32)).max() == 1.0
