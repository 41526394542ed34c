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
from tsmap_train.trainer import build_objective, cycles_lr_at, lr_at, schedule, train

TINY = {"dim": 32, "depth": 1, "heads": 4, "mlp_dim": 32, "out_dim": 16, "dropout": 0.2}


def _samples(per_class=40, dim=16, seed=0):
    anchors = np.random.default_rng(seed).normal(size=(6, dim))
    return make_crossview(anchors, CrossViewSpec(per_class=per_class, missing_view_prob=0.2, seed=seed)).select_split(
        "train"
    )


def _cfg(out, **sections):
    doc = {
        "data": {"store": "in-memory"},
        "model": TINY,
        "objective": {"queue_size": 32, "pooling": "attention", "in_batch": True},
        "augment": {"name": "tsmsdrop", "p": 0.5},
        "optim": {"lr": 3e-3, "batch_size": 16, "accumulate": 2, "steps": 12, "warmup_steps": 3},
        "run": {"out": str(out), "checkpoint_every": 3, "log_every": 1, "threads": 1},
    }
    for name, values in sections.items():
        doc[name] = {**doc.get(name, {}), **values}
    return config_from_dict(doc)


def test_lr_schedule():
    assert lr_at(0, total=100, warmup=10, base=1.0) == pytest.approx(0.1)
    assert lr_at(9, total=100, warmup=10, base=1.0) == pytest.approx(1.0)
    assert lr_at(10, total=100, warmup=10, base=1.0) == pytest.approx(1.0)
    assert lr_at(55, total=100, warmup=10, base=1.0, minimum=0.2) == pytest.approx(
        0.2 + 0.4 * (1 + math.cos(math.pi * 0.5))
    )
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
    again = train(
        _cfg(tmp_path / "part", run={"amp": amp}), samples=samples, resume=str(tmp_path / "part" / "state_0000003.pt")
    )
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
    common = {
        "model": {**TINY, "dropout": 0.0},
        "augment": {"name": "none"},
        "objective": {"in_batch": False, "pooling": "mean"},
        "run": {"device": "cpu"},
    }  # float32 exactness: on CUDA, amp=auto trains in bf16
    a = train(_cfg(tmp_path / "a", optim={"batch_size": 8, "accumulate": 4, "steps": 3}, **common), samples=samples)
    b = train(_cfg(tmp_path / "b", optim={"batch_size": 32, "accumulate": 1, "steps": 3}, **common), samples=samples)
    assert a.losses == pytest.approx(b.losses, abs=2e-6)
    # Adam turns float noise in zero-gradient weights (the key bias) into +-lr steps, so compare functions, not weights
    ma, _ = load_model(a.model)
    mb, _ = load_model(b.model)
    mc, _ = load_model(
        train(
            _cfg(tmp_path / "c", optim={"batch_size": 32, "accumulate": 1, "steps": 1}, **common), samples=samples
        ).model
    )
    x = torch.rand(50, 12, 10, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(ma(x), mb(x), atol=1e-4, rtol=1e-4)
        assert not torch.allclose(ma(x), mc(x), atol=1e-3)  # the check can fail: a different step count differs


def test_outputs_checkpoints_log_and_model(tmp_path):
    samples = _samples()
    result = train(_cfg(tmp_path), samples=samples)
    names = sorted(os.listdir(tmp_path))
    assert [n for n in names if n.startswith("state_0")] == [
        "state_0000003.pt",
        "state_0000006.pt",
        "state_0000009.pt",
        "state_0000012.pt",
    ]
    assert "state_last.pt" in names and "model.safetensors" in names
    log = [json.loads(line) for line in open(tmp_path / "train_log.jsonl")]
    assert [r["step"] for r in log] == list(range(1, 13)) and all(
        0 <= math.log(r["logit_scale"]) <= math.log(100) + 1e-6 for r in log
    )
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
    report = evaluate(
        store=str(store),
        checkpoint=result.model,
        spec=EvalSpec(tasks=("lc",), prompt_kinds=("descriptive",), retrieval_tasks=("lc",), clip_pretrained="none"),
    )
    print(report.table(), f"\n{result.samples_per_s:.0f} samples/s")
    n_test = report.rows[0].n
    assert n_test > 300
    assert report.value("lc", "top1", "descriptive", "monthly") >= 0.8
    assert report.value("lc", "recall@1_s2g", "-", "monthly") >= 0.8
    assert result.losses[-1] < result.losses[0] - 0.5


# --- recipe: authors ----------------------------------------------------------------------------------------

def _authors(out, **sections):
    """The authors' recipe on the tiny model; accumulate 8 (theirs) on micro-batches of 8."""
    doc = {"recipe": "authors", "data": {"store": "in-memory"}, "model": TINY, "objective": {"queue_size": 32},
           "augment": {"name": "tsmixaug"}, "optim": {"lr": 3e-3, "batch_size": 8, "steps": 8},
           "run": {"out": str(out), "checkpoint_every": 4, "log_every": 1, "threads": 1}}
    for name, values in sections.items():
        doc[name] = {**doc.get(name, {}), **values}
    return config_from_dict(doc)


def test_cycles_schedule_equals_torch_cosine_annealing_stepped_per_epoch():
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    per_epoch = 2.5  # e.g. 20 micro-batches per epoch, accumulate 8
    for epoch in range(45):
        for step in range(math.ceil(epoch * per_epoch), math.ceil((epoch + 1) * per_epoch)):
            ours = cycles_lr_at(step, steps_per_epoch=per_epoch, anneal_epochs=10, warmup=0, base=1e-4)
            assert ours == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9, abs=1e-15), (epoch, step)
        opt.step()
        sched.step()
    # values at given steps: 1e-4 -> 0 at epoch 10 -> 1e-4 at epoch 20 (steps 25 and 50 here)
    assert cycles_lr_at(25, steps_per_epoch=2.5, anneal_epochs=10, warmup=0, base=1e-4) == pytest.approx(0.0, abs=1e-15)
    assert cycles_lr_at(50, steps_per_epoch=2.5, anneal_epochs=10, warmup=0, base=1e-4) == pytest.approx(1e-4)
    assert cycles_lr_at(12, steps_per_epoch=2.5, anneal_epochs=10, warmup=0, base=1e-4) == pytest.approx(
        0.5e-4 * (1 + math.cos(math.pi * 4 / 10)))
    # their 100- and 300-epoch runs end near the top of a cycle: epochs 99 and 299 run at 97.6 % of the rate
    for last in (99, 299):
        assert cycles_lr_at(last, steps_per_epoch=1, anneal_epochs=10, warmup=0, base=1.0) == pytest.approx(
            0.9755, abs=1e-4
        )
    # the paper's warm-up: linear over its steps, then the cycles start from the top
    assert cycles_lr_at(4, steps_per_epoch=2.5, anneal_epochs=10, warmup=10, base=1.0) == pytest.approx(0.5)
    assert cycles_lr_at(10, steps_per_epoch=2.5, anneal_epochs=10, warmup=10, base=1.0) == pytest.approx(1.0)
    assert cycles_lr_at(35, steps_per_epoch=2.5, anneal_epochs=10, warmup=10, base=1.0) == pytest.approx(0.0, abs=1e-12)


def test_schedule_of_a_config_counts_the_samplers_epochs(tmp_path):
    cfg = _authors(tmp_path, optim={"batch_size": 8, "accumulate": 2, "warmup_epochs": 1.0})  # 168 samples: 21 batches
    lr = schedule(cfg, 168)
    assert cfg.optim.steps_per_epoch(168) == 10.5 and cfg.optim.warmup(168) == 10
    assert [lr(s) for s in (0, 9)] == pytest.approx([3e-4, 3e-3])
    assert lr(10) == lr(20) == pytest.approx(3e-3) and lr(21) == pytest.approx(1.5e-3 * (1 + math.cos(math.pi / 10)))
    default = _cfg(tmp_path)  # tsmap: warm-up 3 steps, one cosine over the 12
    assert [schedule(default, 168)(s) for s in (0, 2, 12)] == pytest.approx([1e-3, 3e-3, 0.0])


def test_authors_recipe_initialises_tokens_to_zero_and_decays_the_logit_scale(tmp_path):
    authors = build_objective(_authors(tmp_path), ground_dim=16)
    assert not authors.encoder.time_pos_encoding.any() and not authors.encoder.class_token.any()
    assert authors.pool.kind == "attention" and not authors.normalise_views and authors.encoder.config.dropout == 0.2
    tsmap = build_objective(_cfg(tmp_path), ground_dim=16)
    assert 0.01 < float(tsmap.encoder.time_pos_encoding.detach().std()) < 0.03
    assert tsmap.encoder.class_token.abs().min() > 0
    samples = _samples()
    runs = [(_authors(tmp_path / "a", optim={"steps": 1}), 0.01), (_cfg(tmp_path / "t", optim={"steps": 1}), 0.0)]
    for cfg, scale_decay in runs:
        state = torch.load(train(cfg, samples=samples).state, weights_only=True)
        assert [g["weight_decay"] for g in state["optimizer"]["param_groups"]] == [0.01, scale_decay]


def test_queue_is_updated_every_micro_batch_with_accumulation(tmp_path, monkeypatch):
    from tsmap_train.objective import NegativeQueue

    pushes = []
    original = NegativeQueue.push
    monkeypatch.setattr(NegativeQueue, "push", lambda self, g: (pushes.append(len(g)), original(self, g))[1])
    samples = _samples()
    optim = {"steps": 3, "accumulate": 4}
    micro = train(_authors(tmp_path / "a", objective={"queue_size": 1000}, optim=optim), samples=samples)
    assert pushes == [8] * 12  # 3 steps x 4 micro-batches of 8
    state = torch.load(micro.state, weights_only=True)["objective"]
    assert int(state["queue.ptr"]) == 96
    pushes.clear()
    per_step = _authors(tmp_path / "b", objective={"queue_size": 1000, "enqueue": "step"}, optim=optim)
    step = train(per_step, samples=samples)
    assert pushes == [32] * 3  # tsmap: once per optimiser step
    assert micro.losses[0] != step.losses[0]  # already in step 0, micro-batches 2-4 meet the earlier ones as negatives


@pytest.mark.parametrize("augment, amp", [("tsmixaug", "on"), ("tsmsdrop", "off")])  # on: bf16 autocast, on the CPU
def test_authors_recipe_resumes_exactly(tmp_path, augment, amp):
    samples = _samples()
    sections = {"augment": {"name": augment}, "run": {"amp": amp}}
    full = train(_authors(tmp_path / "full", **sections), samples=samples)
    part = train(_authors(tmp_path / "part", **sections), samples=samples, stop_after=4)
    resumed = train(_authors(tmp_path / "part", **sections), samples=samples, resume=True)
    assert part.step == 4 and resumed.losses == full.losses and len(set(full.losses)) == 8
    lrs = [json.loads(line)["lr"] for line in open(tmp_path / "full" / "train_log.jsonl")]
    per_epoch = (len(samples) // 8) / 8  # micro-batches of 8, accumulate 8
    expected = [1.5e-3 * (1 + math.cos(math.pi * math.floor(s / per_epoch) / 10)) for s in range(8)]
    assert lrs == pytest.approx(expected, rel=1e-12)
    assert lrs[0] == 3e-3 and len(set(lrs)) == 3
    with pytest.raises(InputError, match="recipe"):
        train(_cfg(tmp_path / "part", **{k: v for k, v in _authors(tmp_path).to_dict().items() if k == "model"}),
              samples=samples, resume=True)
