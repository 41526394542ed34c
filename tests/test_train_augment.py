"""Augmentations: per sample, shapes unchanged, exactly the right elements masked."""

import pytest
import torch

from tsmap.model import EncoderConfig, build_encoder
from tsmap_train.augment import AugmentSpec, augment, encode, random_tsdrop, spectral_keep, tsmix


def _batch(n=256, missing=True):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 12, 10, 3, 3, generator=g)
    valid = torch.ones(n, 12, dtype=torch.bool)
    if missing:
        valid[: n // 2, 5:8] = False  # half the samples already miss three months
    return x, valid


@pytest.mark.parametrize("name", ["none", "tsdrop", "tsmixaug", "tsmsdrop"])
def test_shapes_dtypes_and_at_least_one_month(name):
    x, valid = _batch()
    out, v, keep, _ = augment(x, valid, AugmentSpec(name=name, p=0.5), torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.dtype == x.dtype and v.shape == valid.shape and v.dtype == torch.bool
    assert keep.shape == (x.shape[0], 10)
    assert v.any(dim=1).all()
    assert not (v & ~valid).any()  # a missing month never comes back


def test_tsdrop_keeps_a_random_subset_of_valid_months_per_sample():
    x, valid = _batch()
    gate = torch.arange(256) % 2 == 0
    v = random_tsdrop(valid, gate, torch.Generator().manual_seed(3))
    assert torch.equal(v[~gate], valid[~gate])  # ungated samples untouched
    kept = v[gate].sum(dim=1)
    assert kept.min() >= 1 and kept.max() <= 12
    assert len(set(kept.tolist())) > 5  # k varies per sample, not one k for the batch
    assert (v[gate].float().mean(dim=0) > 0).all()  # any month may be kept
    patterns = {tuple(row.tolist()) for row in v[gate]}
    assert len(patterns) > 100  # masks differ per sample


def test_tsmix_median_or_three_consecutive_months():
    x, valid = _batch(missing=False)
    gate = torch.ones(256, dtype=torch.bool)
    out, v, _ = tsmix(x, valid, gate, torch.Generator().manual_seed(4))
    dropped = ~v
    changed = (out != x).flatten(1).any(dim=1)
    for i in range(256):
        if dropped[i].any():  # the drop branch: exactly 3 consecutive months masked, values untouched
            idx = torch.nonzero(dropped[i]).flatten()
            assert idx.numel() == 3 and (idx[1:] - idx[:-1] == 1).all() and not changed[i]
        else:  # the median branch: every month holds the sample's temporal median
            med = torch.median(x[i], dim=0).values
            assert torch.equal(out[i], med.expand_as(out[i]))
    n_median = int((~dropped.any(dim=1)).sum())
    assert 80 < n_median < 176  # about half and half


def test_tsmix_median_ignores_missing_months():
    x, valid = _batch(4, missing=False)
    valid[0, :6] = False
    x[0, :6] = 1e6  # garbage in missing months must not leak into the median
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        out, v, _ = tsmix(x, valid, torch.ones(4, dtype=torch.bool), gen)
        if torch.equal(v[0], valid[0]):  # median branch for sample 0
            assert out[0, 6:].max() < 1.0 and torch.equal(out[0, :6], x[0, :6])
            return
    pytest.fail("the median branch never ran")


def test_tsmsdrop_zeroes_exactly_the_dropped_bands_and_keeps_rgb():
    x, valid = _batch()
    spec = AugmentSpec(name="tsmsdrop", p=1.0)
    out, v, keep, _ = augment(x, valid, spec, torch.Generator().manual_seed(5))
    assert keep[:, :3].all()  # B02, B03, B04 always kept
    n_kept = keep.sum(dim=1)
    assert n_kept.min() >= 3 and n_kept.max() == 10
    assert (n_kept == 10).float().mean() > 0.25  # "keep all" (p=0.3) plus k=10 draws
    assert set(n_kept.tolist()) >= {3, 5, 7, 9}
    band_mask = keep[:, None, :, None, None].expand_as(x)
    assert torch.equal(out[band_mask], x[band_mask]) and (out[~band_mask] == 0).all()
    assert (v.sum(dim=1) < valid.sum(dim=1)).any()  # the temporal part ran too


def test_spectral_keep_respects_gate():
    gate = torch.zeros(64, dtype=torch.bool)
    keep = spectral_keep(64, 10, gate, AugmentSpec(name="tsmsdrop"), torch.Generator().manual_seed(0), "cpu")
    assert keep.all()


@pytest.mark.parametrize("name", ["tsdrop", "tsmixaug", "tsmsdrop"])
def test_each_augmentation_trains(name):
    model = build_encoder(EncoderConfig(dim=32, depth=1, heads=4, mlp_dim=32, out_dim=16, patch=3)).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, valid = _batch(64)
    target = torch.randn(64, 16)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        xa, va, _, _ = augment(x, valid, AugmentSpec(name=name, p=0.5), gen)
        loss = ((model(xa, va) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        assert torch.isfinite(loss) and all(
            torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None
        )
        opt.step()


def test_spec_validation():
    with pytest.raises(ValueError, match="unknown augmentation"):
        AugmentSpec(name="mixup")
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        AugmentSpec(p=1.5)


# --- the authors' recipe: statistics over many draws (each sample draws on its own) ---------------------------

AUTHORS = {"drop_at_least_one": True, "spectral_gated": False, "median": "tokens"}
N = 24_000  # draws; a rate's standard error is <= 0.0032, its tolerance 0.015


def _full(n=N):
    x = torch.rand(n, 12, 10, 1, 1, generator=torch.Generator().manual_seed(0))
    return x, torch.ones(n, 12, dtype=torch.bool)


@pytest.mark.parametrize("authors, ks", [(True, range(1, 12)), (False, range(1, 13))])
def test_tsdrop_months_kept_distribution(authors, ks):
    _, valid = _full()
    kept = random_tsdrop(valid, torch.ones(N, dtype=torch.bool), torch.Generator().manual_seed(7),
                         drop_at_least_one=authors).sum(dim=1)
    freq = torch.bincount(kept, minlength=13).double() / N
    assert set(kept.unique().tolist()) == set(ks)  # authors: randint(1, 11), never all 12; tsmap: 1..12
    assert (freq[list(ks)] - 1 / len(ks)).abs().max() < 0.012  # uniform
    # with missing months: a sample with n valid months keeps 1..n-1 of them (1 when n is 1)
    valid[:, 4:] = False
    valid[:100, 1:] = False
    gate = torch.ones(N, dtype=torch.bool)
    kept = random_tsdrop(valid, gate, torch.Generator().manual_seed(8), drop_at_least_one=authors)
    assert not (kept & ~valid).any() and (kept[:100].sum(dim=1) == 1).all()
    assert set(kept[100:].sum(dim=1).unique().tolist()) == ({1, 2, 3} if authors else {1, 2, 3, 4})


def test_authors_tsdrop_gates_half_the_samples_and_always_drops_when_gated():
    x, valid = _full()
    out = augment(x, valid, AugmentSpec(name="tsdrop", **AUTHORS), torch.Generator().manual_seed(9))
    changed = (out.valid != valid).any(dim=1)
    assert abs(changed.double().mean() - 0.5) < 0.015  # gated => at least one month dropped
    assert out.valid.sum(dim=1)[changed].max() == 11 and not out.single.any()


def test_authors_tsmsdrop_spectral_mask_on_every_sample_temporal_gate_independent():
    x, valid = _full()
    out = augment(x, valid, AugmentSpec(name="tsmsdrop", **AUTHORS), torch.Generator().manual_seed(10))
    temporal = (out.valid != valid).any(dim=1)  # gated samples (the authors' TSDrop always drops)
    spectral = ~out.band_keep.all(dim=1)
    expected = 0.7 * 7 / 8  # 30 % keep all, else k ~ U{3..10}: k = 10 keeps all too
    assert abs(temporal.double().mean() - 0.5) < 0.015
    assert abs(spectral.double().mean() - expected) < 0.015
    assert abs(spectral[temporal].double().mean() - expected) < 0.02  # independent of the temporal gate
    assert abs(spectral[~temporal].double().mean() - expected) < 0.02
    _band_rules(out, x)


def test_default_tsmsdrop_spectral_mask_only_with_the_gate():
    x, valid = _full()
    out = augment(x, valid, AugmentSpec(name="tsmsdrop"), torch.Generator().manual_seed(10))
    spectral = ~out.band_keep.all(dim=1)
    assert abs(spectral.double().mean() - 0.5 * 0.7 * 7 / 8) < 0.015
    temporal = (out.valid != valid).any(dim=1)  # gated, less the gated 1/12 that kept all 12 months
    assert abs(spectral[temporal].double().mean() - 0.7 * 7 / 8) < 0.02  # one gate for both parts
    assert abs(spectral[~temporal].double().mean() - (1 / 24) / (1 / 2 + 1 / 24) * 0.7 * 7 / 8) < 0.02


def _band_rules(out, x):
    keep = out.band_keep
    assert keep[:, :3].all()  # B2, B3, B4 always kept
    n = keep.sum(dim=1)
    freq = torch.bincount(n, minlength=11).double() / len(n)
    assert abs(freq[10] - (0.3 + 0.7 / 8)) < 0.015 and (freq[3:10] - 0.7 / 8).abs().max() < 0.012
    assert freq[:3].sum() == 0
    other = keep[:, 3:].double().mean(dim=0)  # each of B5..B12: 0.3 + 0.7 (1/8 + 3/8) = 0.65
    assert (other - 0.65).abs().max() < 0.015
    mask = keep[:, None, :, None, None].expand_as(x)
    assert torch.equal(out.x[mask], x[mask]) and (out.x[~mask] == 0).all()  # dropped bands zeroed, shapes kept


def test_authors_spectral_mask_is_drawn_in_every_batch():
    """Batches of one: the band mask is redrawn every batch, whatever the temporal gate did."""
    x, valid = torch.rand(1, 12, 10, 1, 1), torch.ones(1, 12, dtype=torch.bool)
    gen = torch.Generator().manual_seed(11)
    draws = [augment(x, valid, AugmentSpec(name="tsmsdrop", **AUTHORS), gen) for _ in range(3000)]
    spectral = torch.tensor([not d.band_keep.all() for d in draws]).double()
    masks = {tuple(d.band_keep[0].tolist()) for d in draws}
    assert abs(spectral.mean() - 0.7 * 7 / 8) < 0.03 and len(masks) > 100
    assert len(masks) <= 2**7  # only B5..B12 vary


def test_authors_tsmix_marks_single_samples_and_leaves_inputs():
    x, valid = _full()
    out = augment(x, valid, AugmentSpec(name="tsmixaug", **AUTHORS), torch.Generator().manual_seed(12))
    quarter = (out.valid != valid).any(dim=1)
    assert torch.equal(out.x, x)  # the median is taken later, over the embedded steps
    assert abs(out.single.double().mean() - 0.25) < 0.015 and abs(quarter.double().mean() - 0.25) < 0.015
    assert not (out.single & quarter).any() and (out.valid[quarter].sum(dim=1) == 9).all()


def _tiny(**kw):
    return build_encoder(EncoderConfig(dim=32, depth=2, heads=4, mlp_dim=32, out_dim=16, dropout=0.0, **kw), seed=3)


def test_encode_single_is_the_lower_median_of_embedded_steps_at_the_mean_position():
    enc = _tiny().train()
    with torch.no_grad():
        enc.time_pos_encoding.normal_(0, 1.0)  # distinct rows, so the position choice shows
    g = torch.Generator().manual_seed(1)
    x, valid = torch.rand(6, 12, 10, generator=g), torch.ones(6, 12, dtype=torch.bool)
    valid[1, ::2] = False  # six valid steps: the lower median is the 3rd smallest
    x[1, ::2] = float("nan")  # values of missing months never matter
    single = torch.tensor([True, True, False, True, False, False])
    out = encode(enc, x, valid, single)
    # brute force, per sample: sort each embedding dimension over the valid steps, take element (n - 1) // 2
    w, b = enc.spectral_embedding[1].weight, enc.spectral_embedding[1].bias
    for i in range(6):
        steps = x[i][valid[i]] @ w.T + b
        if single[i]:
            token = steps.sort(dim=0).values[(len(steps) - 1) // 2] + enc.time_pos_encoding[0].mean(0)
            z = torch.cat([enc.class_token[0], token[None]])[None]
        else:
            z = torch.cat([enc.class_token[0], steps + enc.time_pos_encoding[0]])[None]
        ref = enc.mlp_head(enc.transformer(z)[:, 0])[0]
        torch.testing.assert_close(out[i], ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[~single], enc(x[~single], valid[~single]))
    # not the median of the inputs, embedded (what tsmap's default "inputs" branch feeds)
    inputs_median = torch.nanmedian(x[:1], dim=1, keepdim=True).values
    assert not torch.allclose(out[:1], enc.eval()(inputs_median), atol=1e-4)


def test_encode_single_of_a_constant_series_is_the_annual_input_with_the_mean_row():
    enc = _tiny(annual_position="mean").train()
    with torch.no_grad():
        enc.time_pos_encoding.normal_(0, 1.0)
    step = torch.rand(3, 1, 10)
    out = encode(enc, step.expand(3, 12, 10), torch.ones(3, 12, dtype=torch.bool), torch.ones(3, dtype=torch.bool))
    with torch.inference_mode():
        torch.testing.assert_close(out.detach(), enc.eval()(step), atol=1e-5, rtol=1e-5)


def test_authors_tsmix_trains_through_the_median_token():
    enc = build_encoder(EncoderConfig(dim=32, depth=1, heads=4, mlp_dim=32, out_dim=16, patch=3)).train()
    x, valid = _batch(64)
    out = augment(x, valid, AugmentSpec(name="tsmixaug", p=1.0, **AUTHORS), torch.Generator().manual_seed(0))
    assert out.single.any()
    encode(enc, out.x, out.valid, out.single).pow(2).mean().backward()
    assert enc.spectral_embedding[1].weight.grad.abs().sum() > 0 and enc.time_pos_encoding.grad.abs().sum() > 0
