"""The training loop: schedule, exact resume, gradient accumulation, checkpoints, and that it learns."""

import json
import math
import os

import numpy as np
import pytest
import torch

from tsmap.errors import InputError
from tsmap_train.config import config_from_dict
from tsmap.checkpoint import load_checkpoint
from tsmap_train.export import load_model
from tsmap_train.synthetic import CrossViewSpec, make_crossview
from tsmap_train.trainer import lr_at, train

TINY = {"dim": 32, "depth": 1, "heads": 4, "mlp_dim": 32, "out_dim": 16, "dropout": 0.2}


def _samples(per_class=40, dim=16, seed=0):
    anchors = np.random.default_rng(seed).normal(size=(6, dim))
    return make_crossview(anchors, CrossViewSpec(per_class=per_class, missing_view_prob=0.2, seed=seed)).select_split("train")


def _cfg(out, **sections):
    doc = {"data": {"store": "in-memory"}, "model": TINY, "objective": {"queue_size": 32, "pooling": "attention", "in_batch": True},
           "augment": {"name": "tsmsdrop", "p": 0.5}, "optim": {"lr": 3e-3, "batch_size": 16, "accumulate": 2, "steps": 12, "warmup_steps": 3},
           "run": {"out": str(out), "checkpoint_every": 3, "log_every": 1, "threads": 1}}
    for name, values in sections.items():
        doc[name] = {**doc.get(name, {}), **values}
    return config_from_dict(doc)


def test_lr_schedule():
    assert lr_at(0, total=100, warmup=10, base=1.0) == pytest.approx(0.1)
    assert lr_at(9, total=100, warmup=10, base=1.0) == pytest.approx(1.0)
    assert lr_at(10, total=100, warmup=10, base=1.0) == pytest.approx(1.0)
    assert lr_at(55, total=100, warmup=10, base=1.0, minimum=0.2) == pytest.approx(0.2 + 0.4 * (1 + math.cos(math.pi * 0.5)))
    assert lr_at(100, total=100, warmup=10, base=1.0) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(5, total=100, warmup=0, base=2.0) == pytest.approx(1 + math.cos(math.pi * 0.05))


@pytest.mark.parametrize("amp", ["off", "on"])  # "on": bf16 autocast, here on the CPU
def test_resume_reproduces_the_uninterrupted_run_exactly(tmp_path, amp):
    samples = _samples()
    full = train(_cfg(tmp_path / "full", run={"amp": amp}), samples=samples)
    part = train(_cfg(tmp_path / "part", run={"amp": amp}), samples=samples, stop_after=6)
    assert part.step == 6 and part.model is None and len(part.losses) == 6
    resumed = train(_cfg(tmp_path / "part", run={"amp": amp}), samples=samples, resume=True)
    assert resumed.step == 12 and len(full.losses) == 12
    assert resumed.losses == full.losses  # bit for bit, including augmentations, dropout and the queue
    assert len(set(full.losses)) == 12  # the losses really move
    a = torch.load(full.state, weights_only=True)["objective"]
    b = torch.load(resumed.state, weights_only=True)["objective"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # resuming from an intermediate checkpoint file works too
    again = train(_cfg(tmp_path / "part", run={"amp": amp}), samples=samples, resume=str(tmp_path / "part" / "state_0000003.pt"))
    assert again.losses == full.losses


def test_resume_refuses_a_different_config(tmp_path):
    samples = _samples()
    train(_cfg(tmp_path), samples=samples, stop_after=3)
    with pytest.raises(InputError, match="optim.lr"):
        train(_cfg(tmp_path, optim={"lr": 1e-2}), samples=samples, resume=True)
    with pytest.raises(InputError, match="does not exist"):
        train(_cfg(tmp_path / "new"), samples=samples, resume=True)


def test_gradient_accumulation_equals_one_large_batch(tmp_path):
    samples = _samples()
    common = {"model": {**TINY, "dropout": 0.0}, "augment": {"name": "none"}, "objective": {"in_batch": False, "pooling": "mean"}}
    a = train(_cfg(tmp_path / "a", optim={"batch_size": 8, "accumulate": 4, "steps": 3}, **common), samples=samples)
    b = train(_cfg(tmp_path / "b", optim={"batch_size": 32, "accumulate": 1, "steps": 3}, **common), samples=samples)
    assert a.losses == pytest.approx(b.losses, abs=2e-6)
    # Adam turns float noise in zero-gradient weights (the key bias) into +-lr steps, so compare functions, not weights
    ma, _ = load_model(a.model)
    mb, _ = load_model(b.model)
    mc, _ = load_model(train(_cfg(tmp_path / "c", optim={"batch_size": 32, "accumulate": 1, "steps": 1}, **common), samples=samples).model)
    x = torch.rand(50, 12, 10, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(ma(x), mb(x), atol=1e-4, rtol=1e-4)
        assert not torch.allclose(ma(x), mc(x), atol=1e-3)  # the check can fail: a different step count differs


def test_outputs_checkpoints_log_and_model(tmp_path):
    samples = _samples()
    result = train(_cfg(tmp_path), samples=samples)
    names = sorted(os.listdir(tmp_path))
    assert [n for n in names if n.startswith("state_0")] == ["state_0000003.pt", "state_0000006.pt", "state_0000009.pt", "state_0000012.pt"]
    assert "state_last.pt" in names and "model.safetensors" in names
    log = [json.loads(line) for line in open(tmp_path / "train_log.jsonl")]
    assert [r["step"] for r in log] == list(range(1, 13)) and all(0 <= math.log(r["logit_scale"]) <= math.log(100) + 1e-6 for r in log)
    model, prep = load_model(result.model)
    ckpt = load_checkpoint(result.model)
    assert ckpt.model.config.dim == 32 and ckpt.provenance["steps"] == 12 and prep.composite.rule == "authors"
    x = torch.rand(3, 12, 10)
    with torch.inference_mode():
        assert model(x).shape == (3, 16)
    assert result.samples_per_s > 0


def test_bad_settings(tmp_path):
    samples = _samples()
    with pytest.raises(InputError, match="larger than the"):
        train(_cfg(tmp_path, optim={"batch_size": 10_000}), samples=samples)
    with pytest.raises(InputError, match="must equal the ground"):
        train(_cfg(tmp_path, model={**TINY, "out_dim": 8}), samples=samples)


@pytest.mark.slow
def test_learns_zero_shot_on_held_out_synthetic_pixels(tmp_path):
    """Six classes (chance 1/6), ground views around the demo's text embeddings: >= 0.8 top-1 held out."""
    from tsmap_train.evaluate import EvalSpec, evaluate
    from tsmap_train.store import write_store
    from tsmap_train.synthetic import demo_anchors

    anchors = demo_anchors(clip_pretrained="none")  # the land-cover prompts through the seeded random text tower
    store = write_store(make_crossview(anchors, CrossViewSpec(per_class=400, seed=1)), tmp_path / "syn.zarr")
    cfg = config_from_dict({
        "data": {"store": str(store)}, "model": {"dim": 64, "depth": 2, "heads": 4, "mlp_dim": 128, "dropout": 0.1},
        "objective": {"queue_size": 1024}, "augment": {"name": "tsdrop"},
        "optim": {"lr": 1e-3, "batch_size": 256, "steps": 400, "warmup_steps": 20},
        "run": {"out": str(tmp_path / "run"), "checkpoint_every": 0, "threads": 1},
        "text": {"clip_pretrained": "none"},
    })
    result = train(cfg)
    report = evaluate(store=str(store), checkpoint=result.model,
                      spec=EvalSpec(tasks=("lc",), prompt_kinds=("descriptive",), retrieval_tasks=("lc",), clip_pretrained="none"))
    print(report.table(), f"\n{result.samples_per_s:.0f} samples/s")
    n_test = report.rows[0].n
    assert n_test > 300
    assert report.value("lc", "top1", "descriptive", "monthly") >= 0.8
    assert report.value("lc", "recall@1_s2g", "-", "monthly") >= 0.8
    assert result.losses[-1] < result.losses[0] - 0.5
