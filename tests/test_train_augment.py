"""Augmentations: per sample, shapes unchanged, exactly the right elements masked."""

import pytest
import torch

from tsmap.model import EncoderConfig, build_encoder
from tsmap_train.augment import AugmentSpec, augment, random_tsdrop, spectral_keep, tsmix


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
    out, v, keep = augment(x, valid, AugmentSpec(name=name, p=0.5), torch.Generator().manual_seed(1))
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
    out, v = tsmix(x, valid, gate, torch.Generator().manual_seed(4))
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
        out, v = tsmix(x, valid, torch.ones(4, dtype=torch.bool), gen)
        if torch.equal(v[0], valid[0]):  # median branch for sample 0
            assert out[0, 6:].max() < 1.0 and torch.equal(out[0, :6], x[0, :6])
            return
    pytest.fail("the median branch never ran")


def test_tsmsdrop_zeroes_exactly_the_dropped_bands_and_keeps_rgb():
    x, valid = _batch()
    spec = AugmentSpec(name="tsmsdrop", p=1.0)
    out, v, keep = augment(x, valid, spec, torch.Generator().manual_seed(5))
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
        xa, va, _ = augment(x, valid, AugmentSpec(name=name, p=0.5), gen)
        loss = ((model(xa, va) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        opt.step()


def test_spec_validation():
    with pytest.raises(ValueError, match="unknown augmentation"):
        AugmentSpec(name="mixup")
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        AugmentSpec(p=1.5)
