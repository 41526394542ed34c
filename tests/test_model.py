import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import tsmap.model as model_module
from tsmap.model import EncoderConfig, TimeSenCLIPEncoder, build_encoder

SMALL = EncoderConfig(dim=64, depth=2, heads=4, mlp_dim=32, out_dim=16)


def authors_state(patch: int, *, seed: int = 0, dim=512, depth=6, ffn=256, months=12, out=512) -> dict:
    """Random weights in the authors' state-dict layout, written from official-encoder.md."""
    g = torch.Generator().manual_seed(seed)
    shapes = {
        "spectral_embedding.1.weight": (dim, 10 * patch * patch),
        "spectral_embedding.1.bias": (dim,),
        "time_pos_encoding": (1, months, dim),
        "class_token": (1, 1, dim),
        "mlp_head.0.weight": (dim,),
        "mlp_head.0.bias": (dim,),
        "mlp_head.1.weight": (out, dim),
        "mlp_head.1.bias": (out,),
    }
    for i in range(depth):
        p = f"transformer.layers.{i}."
        shapes |= {
            p + "self_attn.in_proj_weight": (3 * dim, dim),
            p + "self_attn.in_proj_bias": (3 * dim,),
            p + "self_attn.out_proj.weight": (dim, dim),
            p + "self_attn.out_proj.bias": (dim,),
            p + "linear1.weight": (ffn, dim),
            p + "linear1.bias": (ffn,),
            p + "linear2.weight": (dim, ffn),
            p + "linear2.bias": (dim,),
            p + "norm1.weight": (dim,),
            p + "norm1.bias": (dim,),
            p + "norm2.weight": (dim,),
            p + "norm2.bias": (dim,),
        }
    state = {}
    for key, shape in shapes.items():
        t = torch.randn(shape, generator=g)
        if key.endswith("weight") and len(shape) == 1:  # LayerNorm gains
            t = 1 + 0.1 * t
        else:
            t = t * (0.3 if len(shape) == 1 or key in ("time_pos_encoding", "class_token") else shape[-1] ** -0.5)
        state[key] = t
    return state


class Reference(nn.Module):
    """A short reference forward from the facts: stock post-norm ReLU layers, LayerNorm + Linear head."""

    def __init__(self, state: dict, *, heads=8, norm_first=False, activation="relu") -> None:
        super().__init__()
        dim, inputs = state["spectral_embedding.1.weight"].shape
        depth = len({k.split(".")[2] for k in state if k.startswith("transformer.layers.")})
        ffn = state["transformer.layers.0.linear1.weight"].shape[0]
        self.embed = nn.Linear(inputs, dim)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim, heads, ffn, dropout=0.0, activation=activation, norm_first=norm_first, batch_first=True
            )
            for _ in range(depth)
        )
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, state["mlp_head.1.weight"].shape[0]))
        renamed = {
            k.replace("spectral_embedding.1.", "embed.")
            .replace("transformer.layers.", "layers.")
            .replace("mlp_head.", "head."): v
            for k, v in state.items()
        }
        self.pos, self.cls = renamed.pop("time_pos_encoding")[0], renamed.pop("class_token")[0]
        self.load_state_dict(renamed, strict=True)
        self.eval()

    def rows(self, steps: int, annual: str = "mean") -> torch.Tensor:
        if steps == 12:
            return self.pos
        if steps == 4:  # row q = element-wise median of rows 3q..3q+2
            return torch.stack([self.pos[3 * q : 3 * q + 3].median(0).values for q in range(4)])
        return self.pos.mean(0, keepdim=True) if annual == "mean" else self.pos[:1]

    def forward(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """x (B, T, C, P, P) with the position rows (T, dim) each step gets; no masking."""
        tokens = self.embed(x.flatten(2)) + rows
        z = torch.cat([self.cls.expand(x.shape[0], 1, -1), tokens], dim=1)
        for layer in self.layers:
            z = layer(z)
        return self.head(z[:, 0])


def _load(config: EncoderConfig, state: dict) -> TimeSenCLIPEncoder:
    model = TimeSenCLIPEncoder(config)
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.mark.parametrize("patch, count", [(1, 8_169_472), (5, 8_292_352), (9, 8_579_072)])
def test_parameter_counts_match_the_paper(patch, count):
    model = build_encoder(EncoderConfig(patch=patch))
    assert sum(p.numel() for p in model.parameters()) == count
    assert set(model.state_dict()) == set(authors_state(patch, depth=6))


@pytest.mark.parametrize("patch", [1, 5])
@pytest.mark.parametrize("steps", [12, 4, 1])
def test_equals_reference_forward_of_the_authors_layout(patch, steps):
    state = authors_state(patch, seed=patch + steps)
    model, ref = _load(EncoderConfig(patch=patch), state), Reference(state)
    x = torch.rand(6, steps, 10, patch, patch, generator=torch.Generator().manual_seed(steps))
    with torch.inference_mode():
        got, want = model(x), ref(x, ref.rows(steps))
    assert want.abs().max() > 0.5  # a real signal, not a degenerate model
    assert (got - want).abs().max().item() <= 1e-5


def test_annual_first_row_option_and_nine_by_nine():
    state = authors_state(9, seed=9)
    model, ref = _load(EncoderConfig(patch=9, annual_position="first"), state), Reference(state)
    assert not model.folds_first_layer  # 810 inputs > 512: the fold would cost more than it saves
    x = torch.rand(3, 1, 10, 9, 9)
    with torch.inference_mode():
        assert (model(x) - ref(x, ref.rows(1, "first"))).abs().max().item() <= 1e-5


@pytest.mark.parametrize("norm_first, activation", [(True, "gelu"), (False, "gelu"), (True, "relu")])
def test_other_layer_variants_equal_stock_layers(norm_first, activation):
    state = authors_state(1, seed=4, dim=64, depth=3, ffn=32, out=16)
    config = EncoderConfig(
        dim=64, depth=3, heads=4, mlp_dim=32, out_dim=16, norm_first=norm_first, activation=activation
    )
    model, ref = _load(config, state), Reference(state, heads=4, norm_first=norm_first, activation=activation)
    x = torch.rand(5, 12, 10)
    with torch.inference_mode():
        assert (model(x) - ref(x, ref.rows(12))).abs().max().item() <= 1e-5


def test_onednn_and_plain_linear_paths_agree(monkeypatch):
    state = authors_state(1, seed=12)
    model = _load(EncoderConfig(), state)
    x = torch.rand(8, 12, 10)
    with torch.inference_mode():
        fast = model(x)
        monkeypatch.setattr(model_module, "_ONEDNN_LINEAR", False)
        plain = model(x)
    assert (fast - plain).abs().max().item() <= 1e-5


def test_missing_months_keep_their_own_position_rows():
    state = authors_state(1, seed=7)
    model, ref = _load(EncoderConfig(), state), Reference(state)
    x = torch.rand(1, 12, 10)
    keep = torch.tensor([0, 1, 2, 5, 6, 10])
    valid = torch.zeros(1, 12, dtype=torch.bool)
    valid[0, keep] = True
    with torch.inference_mode():
        got = model(x, valid)
        want = ref(x[:, keep], ref.pos[keep])  # only the present months, each with its own row
    assert (got - want).abs().max().item() <= 1e-5


def test_masked_months_change_only_their_pixels():
    model = build_encoder(SMALL)
    x = torch.rand(5, 12, 10)
    valid = torch.ones(5, 12, dtype=torch.bool)
    valid[2, 4:9] = False
    valid[4, :11] = False  # a single month left
    with torch.inference_mode():
        full = model(x)
        masked = model(x, valid)
        x_nan = x.clone()
        x_nan[~valid] = float("nan")
        masked_nan = model(x_nan, valid)
    assert torch.equal(masked[[0, 1, 3]], full[[0, 1, 3]])  # full pixels: bit-identical to the unmasked path
    assert (masked[2] - full[2]).abs().max() > 1e-3 and (masked[4] - full[4]).abs().max() > 1e-3
    assert torch.equal(masked_nan, masked)  # absent months' values are never read, NaN included


def test_training_mode_is_the_same_function_and_trains():
    model = build_encoder(EncoderConfig(dim=64, depth=2, heads=4, mlp_dim=32, out_dim=16, dropout=0.0))
    x = torch.rand(4, 12, 10)
    valid = torch.rand(4, 12) > 0.4
    valid[:, 3] = True
    with torch.no_grad():
        fast = model(x, valid)
    model.train()
    out = model(x, valid)
    torch.testing.assert_close(out, fast, atol=1e-5, rtol=0)
    out.square().sum().backward()
    model.eval()  # eval with autograd on takes the stock path too, so gradients still flow
    torch.testing.assert_close(model(x, valid), fast, atol=1e-5, rtol=0)
    assert (
        model.time_pos_encoding.grad.abs().sum() > 0 and model.transformer.layers[1].linear2.weight.grad.abs().sum() > 0
    )


@pytest.mark.parametrize(
    "config", [EncoderConfig(), EncoderConfig(patch=9), SMALL, EncoderConfig(dim=64, heads=4, norm_first=True)]
)
@pytest.mark.parametrize("steps", [12, 4, 1])
def test_flop_count_matches_what_runs(config, steps, monkeypatch):
    monkeypatch.setattr(model_module, "_ONEDNN_LINEAR", False)  # the counter sees F.linear, not oneDNN's op
    model = build_encoder(config)
    counts = []
    for batch in (2, 5):
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            model(torch.rand(batch, steps, 10, config.patch, config.patch))
        counts.append(counter.get_total_flops())
    assert (counts[1] - counts[0]) / 3 == config.flops_per_pixel(steps)["fast"]
    standard = []  # the stock forward (what training runs): every linear and every attention matmul, all tokens
    model.train()
    for batch in (2, 5):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.rand(batch, steps, 10, config.patch, config.patch))
        standard.append(counter.get_total_flops())
    assert (standard[1] - standard[0]) / 3 == config.flops_per_pixel(steps)["standard"]
    assert config.flops_per_pixel(steps)["fast"] < config.flops_per_pixel(steps)["standard"]
    if config == EncoderConfig() and steps == 12:  # the README's figures: 156 MFLOP per pixel instead of 207
        assert (round((counts[1] - counts[0]) / 3e6), round((standard[1] - standard[0]) / 3e6)) == (156, 207)


def test_config_validation_and_round_trip():
    with pytest.raises(ValueError, match="divisible"):
        EncoderConfig(dim=100, heads=8)
    with pytest.raises(ValueError, match="depth"):
        EncoderConfig(depth=0)
    with pytest.raises(ValueError, match="activation"):
        EncoderConfig(activation="swish")
    with pytest.raises(ValueError, match="unknown EncoderConfig fields"):
        EncoderConfig.from_dict({"dim": 64, "wings": 2})
    assert EncoderConfig.from_dict(SMALL.to_dict()) == SMALL
    with pytest.raises(ValueError, match="values per time step"):
        build_encoder(SMALL)(torch.rand(2, 12, 11))
    with pytest.raises(ValueError, match="cannot place 5 time steps"):
        build_encoder(SMALL)(torch.rand(2, 5, 10))


@pytest.mark.parametrize(
    "config",
    [EncoderConfig(), EncoderConfig(dim=64, heads=4, patch=9), EncoderConfig(dim=64, heads=4, norm_first=True)],
)
def test_mixed_precision_autocast_path(config):
    """AMP (as on CUDA) runs the same fast path: out= kernels must see one dtype."""
    model = build_encoder(config)
    x = torch.rand(6, 12, 10, config.patch, config.patch)
    valid = torch.rand(6, 12) > 0.3
    valid[:, 0] = True
    with torch.inference_mode():
        ref = model(x, valid)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x, valid)
    assert out.dtype == torch.bfloat16
    assert torch.nn.functional.cosine_similarity(out.float(), ref).min() > 0.999
