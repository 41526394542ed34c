import pytest
import torch

from tsmap.model import EncoderConfig, build_encoder


@pytest.mark.parametrize("patch, count", [(1, 8_169_472), (5, 8_292_352), (9, 8_579_072)])
def test_parameter_counts_match_the_paper(patch, count):
    model = build_encoder(EncoderConfig(patch=patch))
    assert sum(p.numel() for p in model.parameters()) == count


def test_state_dict_keys_are_the_authors():
    keys = build_encoder().state_dict()
    assert tuple(keys["spectral_embedding.1.weight"].shape) == (512, 10)
    assert tuple(keys["time_pos_encoding"].shape) == (1, 12, 512)
    assert tuple(keys["transformer.layers.5.linear1.weight"].shape) == (256, 512)
    assert tuple(keys["mlp_head.1.weight"].shape) == (512, 512)


def test_masked_months_change_only_their_pixels():
    model = build_encoder(EncoderConfig(dim=64, depth=2, heads=4, mlp_dim=32, out_dim=16))
    x = torch.rand(5, 12, 10)
    valid = torch.ones(5, 12, dtype=torch.bool)
    valid[2, 4:9] = False
    with torch.inference_mode():
        full = model(x)
        masked = model(x, valid)
        x_nan = x.clone()
        x_nan[2, 4:9] = float("nan")
        masked_nan = model(x_nan, valid)
    torch.testing.assert_close(masked[[0, 1, 3, 4]], full[[0, 1, 3, 4]], atol=1e-6, rtol=0)
    assert (masked[2] - full[2]).abs().max() > 1e-3
    torch.testing.assert_close(masked_nan, masked, atol=0, rtol=0)


@pytest.mark.parametrize("steps", [12, 4, 1])
def test_time_steps(steps):
    model = build_encoder(EncoderConfig(dim=32, depth=1, heads=4, mlp_dim=16, out_dim=8))
    with torch.inference_mode():
        assert model(torch.rand(3, steps, 10)).shape == (3, 8)


def test_config_validation():
    with pytest.raises(ValueError, match="divisible"):
        EncoderConfig(dim=100, heads=8)
    with pytest.raises(ValueError, match="depth"):
        EncoderConfig(depth=0)
