"""Ground pooling, the negative queue and InfoNCE against direct formulas."""

import math

import pytest
import torch
import torch.nn.functional as F

from tsmap.model import EncoderConfig, build_encoder
from tsmap_train.objective import CrossViewObjective, GroundPool, NegativeQueue, info_nce


def test_info_nce_equals_the_formula():
    g = torch.Generator().manual_seed(0)
    s = F.normalize(torch.randn(5, 8, generator=g), dim=-1)
    gr = F.normalize(torch.randn(5, 8, generator=g), dim=-1)
    q = F.normalize(torch.randn(7, 8, generator=g), dim=-1)
    t = torch.tensor(math.log(1 / 0.07))
    scale = 1 / 0.07
    expected = []
    for i in range(5):
        logits = torch.cat([(s[i] @ gr[i])[None], s[i] @ q.T]) * scale
        expected.append(-torch.log_softmax(logits, 0)[0])
    torch.testing.assert_close(info_nce(s, gr, q, t), torch.stack(expected).mean())
    # with in-batch negatives: the other samples' ground embeddings join the queue
    expected = []
    for i in range(5):
        logits = torch.cat([s[i] @ gr.T, s[i] @ q.T]) * scale
        expected.append(-torch.log_softmax(logits, 0)[i])
    torch.testing.assert_close(info_nce(s, gr, q, t, in_batch=True), torch.stack(expected).mean())
    torch.testing.assert_close(
        info_nce(s, gr, None, t, in_batch=True), F.cross_entropy(s @ gr.T * scale, torch.arange(5))
    )


def test_pooling_respects_the_view_mask():
    views = torch.randn(3, 4, 6)
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 0, 1]], dtype=torch.bool)
    mean = GroundPool(6, "mean")(views, mask)
    torch.testing.assert_close(mean[1], (views[1, 0] + views[1, 2]) / 2)
    torch.testing.assert_close(mean[2], views[2, 3])
    att = GroundPool(6, "attention")
    out = att(views, mask)
    w = torch.softmax(att.score(views[1]).squeeze(-1).masked_fill(~mask[1], float("-inf")), 0)
    assert w[1] == 0 and w[3] == 0
    torch.testing.assert_close(out[1], (w[:, None] * views[1]).sum(0))
    torch.testing.assert_close(out[2], views[2, 3])


def test_queue_is_a_ring_buffer():
    q = NegativeQueue(5, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(q.items.norm(dim=-1), torch.ones(5))
    a = torch.arange(12.0).reshape(4, 3)
    q.push(a)
    assert int(q.ptr) == 4 and torch.equal(q.items[:4], a)
    b = -torch.arange(9.0).reshape(3, 3) - 1
    q.push(b)
    assert int(q.ptr) == 2 and torch.equal(q.items[4], b[0]) and torch.equal(q.items[:2], b[1:])
    assert torch.equal(q.items[2:4], a[2:4])


def test_temperature_init_and_clamp():
    enc = build_encoder(EncoderConfig(dim=16, depth=1, heads=2, mlp_dim=16, out_dim=8))
    obj = CrossViewObjective(enc, ground_dim=8, queue_size=4)
    assert float(obj.logit_scale.detach()) == pytest.approx(math.log(1 / 0.07))
    with torch.no_grad():
        obj.logit_scale.fill_(9.0)
    obj.clamp_temperature()
    assert float(obj.logit_scale.detach()) == pytest.approx(math.log(100))
    with torch.no_grad():
        obj.logit_scale.fill_(-3.0)
    obj.clamp_temperature()
    assert float(obj.logit_scale.detach()) == 0.0


def test_forward_gives_a_loss_and_unit_ground_vectors():
    enc = build_encoder(EncoderConfig(dim=16, depth=1, heads=2, mlp_dim=16, out_dim=8)).train()
    obj = CrossViewObjective(enc, ground_dim=8, queue_size=16, pooling="attention")
    x, valid = torch.rand(6, 12, 10), torch.ones(6, 12, dtype=torch.bool)
    views, mask = torch.randn(6, 4, 8) * 5, torch.ones(6, 4, dtype=torch.bool)
    loss, g = obj(x, valid, views, mask)
    loss.backward()
    torch.testing.assert_close(g.norm(dim=-1), torch.ones(6))
    assert obj.pool.score.weight.grad is not None and enc.mlp_head[1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="must equal"):
        CrossViewObjective(enc, ground_dim=9)
    with pytest.raises(ValueError, match="negatives"):
        CrossViewObjective(enc, ground_dim=8, queue_size=0)


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_ground_views_pooled_raw_then_normalised_or_normalised_first(pooling):
    """tsmap: L2-normalise each view, pool, normalise; the authors: pool the raw views, then normalise."""
    enc = build_encoder(EncoderConfig(dim=16, depth=1, heads=2, mlp_dim=16, out_dim=8))
    g = torch.Generator().manual_seed(0)
    views = torch.randn(5, 4, 8, generator=g) * torch.tensor([1.0, 10.0, 0.1, 3.0])[None, :, None]  # unequal norms
    mask = torch.ones(5, 4, dtype=torch.bool)
    mask[0, 1] = False
    torch.manual_seed(0)
    tsmap = CrossViewObjective(enc, ground_dim=8, queue_size=4, pooling=pooling)
    torch.manual_seed(0)
    authors = CrossViewObjective(enc, ground_dim=8, queue_size=4, pooling=pooling, normalise_views=False)

    def pool(v, m):  # brute force, one sample at a time
        if pooling == "mean":
            return v[m].mean(0)
        w = torch.softmax(v[m] @ authors.pool.score.weight[0], 0)
        return (w[:, None] * v[m]).sum(0)

    for i in range(5):
        raw = F.normalize(pool(views[i], mask[i]), dim=0)
        unit = F.normalize(pool(F.normalize(views[i], dim=-1), mask[i]), dim=0)
        torch.testing.assert_close(authors.embed_ground(views, mask)[i], raw)
        torch.testing.assert_close(tsmap.embed_ground(views, mask)[i], unit)
        assert not torch.allclose(raw, unit, atol=1e-3)
