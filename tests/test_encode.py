import numpy as np
import pytest
import torch
import xarray as xr

from tsmap.encode import PixelEncoder, bf16_supported, embed
from tsmap.errors import InputError
from tsmap.model import EncoderConfig, build_encoder
from tsmap.specs import AUTHORS, authors_spec

from .conftest import data_path

SMALL = EncoderConfig(dim=32, depth=2, heads=4, mlp_dim=16, out_dim=8)


def _reference(model, block, valid=None):
    """L2-normalised model output for raw (N, T, C, ...) DN, computed directly."""
    x = torch.from_numpy(np.nan_to_num(AUTHORS.normalise(block, band_axis=2)))
    with torch.inference_mode():
        return torch.nn.functional.normalize(model(x, valid), dim=-1).numpy()


def test_pixel_encoder_matches_model_and_marks_nodata():
    model = build_encoder(SMALL)
    rng = np.random.default_rng(0)
    block = rng.uniform(0, 4000, size=(3, 4, 12, 10)).astype(np.float32)  # (y, x, month, band)
    block[0, 0] = np.nan  # no data at all
    block[1, 1, 5] = np.nan  # one missing month
    block[2, 0, 7, 3] = np.inf  # a non-finite value makes its month missing, not a clipped 1.0
    out = PixelEncoder(model, AUTHORS, device="cpu", batch_size=5, precision="fp32")(block)
    assert out.shape == (3, 4, 8) and out.dtype == np.float32
    assert np.isnan(out[0, 0]).all() and np.isfinite(np.delete(out.reshape(12, 8), 0, axis=0)).all()
    np.testing.assert_allclose(np.linalg.norm(out.reshape(12, 8)[1:], axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out[2, 3], _reference(model, block[2, 3][None])[0], atol=1e-6)
    for (y, x), month in (((1, 1), 5), ((2, 0), 7)):
        valid = torch.ones(1, 12, dtype=torch.bool)
        valid[0, month] = False
        np.testing.assert_allclose(out[y, x], _reference(model, block[y, x][None], valid)[0], atol=1e-6)


def test_dropping_months_changes_only_those_pixels():
    encoder = PixelEncoder(build_encoder(SMALL), device="cpu", precision="fp32")
    block = np.random.default_rng(1).uniform(0, 4000, size=(50, 12, 10)).astype(np.float32)
    full = encoder(block)
    holes = block.copy()
    holes[[3, 17, 40], 2:6] = np.nan
    out = encoder(holes)
    changed = np.abs(out - full).max(-1) > 0
    assert changed.nonzero()[0].tolist() == [3, 17, 40]
    np.testing.assert_array_equal(np.delete(out, [3, 17, 40], 0), np.delete(full, [3, 17, 40], 0))


@pytest.mark.parametrize("steps", [12, 4, 1])
def test_patches_and_temporal_modes(steps):
    config = EncoderConfig(dim=32, depth=2, heads=4, mlp_dim=16, out_dim=8, patch=5)
    model = build_encoder(config)
    block = np.random.default_rng(2).uniform(0, 4000, size=(2, 3, steps, 10, 5, 5)).astype(np.float32)
    block[1, 2, 0, 4, 0, 0] = np.nan  # a neighbour missing makes the month missing
    out = PixelEncoder(model, authors_spec(patch=5), device="cpu", precision="fp32")(block)
    assert out.shape == (2, 3, 8)
    np.testing.assert_allclose(out[0, 1], _reference(model, block[0, 1][None])[0], atol=1e-6)
    if steps == 1:
        assert np.isnan(out[1, 2]).all()
    else:
        valid = torch.ones(1, steps, dtype=torch.bool)
        valid[0, 0] = False
        np.testing.assert_allclose(out[1, 2], _reference(model, block[1, 2][None], valid)[0], atol=1e-6)


def test_bad_shapes_and_options_are_clear():
    encoder = PixelEncoder(build_encoder(SMALL), device="cpu", precision="fp32")
    with pytest.raises(InputError, match=r"needs \(\.\.\., month, band\) with 10 bands"):
        encoder(np.zeros((4, 12, 9), np.float32))
    with pytest.raises(InputError, match="7 time steps; give 12"):
        encoder(np.zeros((4, 7, 10), np.float32))
    patchy = PixelEncoder(
        build_encoder(EncoderConfig(dim=32, heads=4, depth=1, patch=5)), authors_spec(patch=5), device="cpu"
    )
    with pytest.raises(InputError, match=r"5x5 model needs \(\.\.\., month, band, 5, 5\)"):
        patchy(np.zeros((4, 12, 10), np.float32))
    with pytest.raises(InputError, match="pass the checkpoint's own spec"):
        PixelEncoder(build_encoder(SMALL), authors_spec(patch=5))
    with pytest.raises(InputError, match="precision must be one of"):
        PixelEncoder(build_encoder(SMALL), precision="fp16")


def test_bf16_agrees_with_fp32_on_real_pixels_and_is_deterministic():
    if not bf16_supported(torch.device("cpu")):
        pytest.skip("this CPU has no native bf16")
    data = np.load(data_path("presto", "algae_blooms_s2_dn_first300.npz"))["s2_dn"]
    block = data.copy()
    block[::7, 3:8] = np.nan  # missing months
    block[5] = np.nan  # no data
    model = build_encoder(EncoderConfig())  # the authors' size
    fp32 = PixelEncoder(model, device="cpu", precision="fp32")(block)
    encoder = PixelEncoder(model, device="cpu", precision="auto")
    assert encoder.precision == "bf16"
    bf16 = encoder(block)
    assert next(model.parameters()).dtype == torch.float32  # the caller's model is left alone
    np.testing.assert_array_equal(np.isnan(bf16), np.isnan(fp32))
    assert np.isnan(bf16[5]).all() and np.isfinite(np.delete(bf16, 5, 0)).all()
    cosine = np.sum(np.delete(bf16, 5, 0) * np.delete(fp32, 5, 0), axis=-1)
    assert cosine.min() >= 0.9999, cosine.min()  # the README's claim; 0.99996 measured (random weights, seeds 0-2)
    np.testing.assert_array_equal(encoder(block), bf16)


def test_embed_is_lazy_and_chunked(no_compute):
    data = xr.DataArray(np.ones((12, 10, 6, 6), np.float32) * 500, dims=("month", "band", "y", "x")).chunk(
        {"y": 3, "x": 3}
    )
    emb = embed(data, PixelEncoder(build_encoder(SMALL), device="cpu"))
    assert emb.dims == ("embed", "y", "x") and emb.shape == (8, 6, 6)
    assert emb.chunks[1] == (3, 3)


def test_embed_computes_the_same_values():
    rng = np.random.default_rng(3)
    data = xr.DataArray(rng.uniform(0, 3000, (12, 10, 4, 5)).astype(np.float32), dims=("month", "band", "y", "x"))
    encoder = PixelEncoder(build_encoder(SMALL), device="cpu", precision="fp32")
    emb = embed(data.chunk({"y": 2}), encoder).compute()
    direct = encoder(data.transpose("y", "x", "month", "band").values)
    np.testing.assert_allclose(emb.transpose("y", "x", "embed").values, direct, atol=1e-6)


def test_embed_makes_and_encodes_patch_windows():
    config = EncoderConfig(dim=32, depth=2, heads=4, mlp_dim=16, out_dim=8, patch=3)
    encoder = PixelEncoder(build_encoder(config), authors_spec(patch=3), device="cpu", precision="fp32")
    rng = np.random.default_rng(4)
    values = rng.uniform(0, 3000, (12, 10, 6, 7)).astype(np.float32)
    values[2, :, 3, 3] = np.nan  # a cloudy month at (3, 3): its month is missing for every window that holds it
    data = xr.DataArray(values, dims=("month", "band", "y", "x")).chunk({"y": 3, "x": 4})
    emb = embed(data, encoder).compute().transpose("y", "x", "embed").values
    padded = np.pad(values, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")  # border pixel repeated
    for y, x in ((0, 0), (2, 3), (3, 4), (5, 6), (4, 2)):  # corners, chunk borders, next to the cloud
        window = padded[:, :, y : y + 3, x : x + 3][None]
        np.testing.assert_allclose(emb[y, x], encoder(window)[0], atol=1e-6)
    assert np.isfinite(emb).all()
    with pytest.raises(InputError, match="windows are 5x5 but the encoder reads 3x3"):
        from tsmap.patches import neighbourhoods

        embed(neighbourhoods(data, 5), encoder)
