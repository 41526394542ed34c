"""The training loop: seeded, resumable to the bit, with checkpoints and a JSON-lines log.

Everything random is a function of (seed, step): the sample order of each epoch, the
augmentations and the dropout masks of each step. A training-state checkpoint therefore only
needs the weights, the optimiser, the queue and the step, and a resumed run reproduces the losses
of an uninterrupted one exactly (on the same device and dtype).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch


from tsmap.encode import check_device
from tsmap.errors import InputError, ModelError
from tsmap.model import build_encoder
from tsmap._files import atomic_path
from tsmap.specs import CompositeSpec, Preprocessing

from .augment import augment
from .config import TrainConfig, config_from_dict
from .export import MODEL_FILE, save_model
from .objective import CrossViewObjective
from .store import Samples, read_store

log = logging.getLogger("tsmap.train")
STATE_FORMAT = "tsmap-train-state"
LAST_STATE = "state_last.pt"


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    model: str | None  #: exported encoder (None when the run stopped before the last step)
    state: str  #: latest training-state checkpoint
    step: int  #: optimiser steps done
    total_steps: int
    losses: list[float] = field(default_factory=list)  #: loss per optimiser step, from step 0
    samples_per_s: float = 0.0  #: training throughput of this run (after its first step)


def lr_at(step: int, *, total: int, warmup: int, base: float, minimum: float = 0.0) -> float:
    """Learning rate at optimiser ``step``: linear warm-up to ``base``, then cosine decay to ``minimum``."""
    if step < warmup:
        return base * (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return minimum + 0.5 * (base - minimum) * (1 + math.cos(math.pi * progress))


def cycles_lr_at(step: int, *, steps_per_epoch: float, anneal_epochs: int, warmup: int, base: float,
                 minimum: float = 0.0) -> float:
    """The authors' schedule: ``CosineAnnealingLR(T_max=anneal_epochs)`` stepped once per epoch.

    After a linear warm-up (none in their code), the rate is constant within an epoch and follows
    ``minimum + (base - minimum) (1 + cos(pi e / anneal_epochs)) / 2`` for epoch e counted from the end
    of the warm-up: down to ``minimum`` in ``anneal_epochs`` epochs, back up in as many, and so on.
    """
    if step < warmup:
        return base * (step + 1) / warmup
    epoch = math.floor((step - warmup) / steps_per_epoch + 1e-9)
    return minimum + 0.5 * (base - minimum) * (1 + math.cos(math.pi * epoch / anneal_epochs))


def schedule(cfg: TrainConfig, n_samples: int):
    """``lr(step)`` of the configured schedule for a run over ``n_samples`` training samples."""
    o = cfg.optim
    total, warmup = o.total_steps(n_samples), o.warmup(n_samples)
    if o.schedule == "cycles":
        per_epoch = o.steps_per_epoch(n_samples)
        return lambda step: cycles_lr_at(step, steps_per_epoch=per_epoch, anneal_epochs=o.anneal_epochs, warmup=warmup,
                                         base=o.lr, minimum=o.min_lr)
    return lambda step: lr_at(step, total=total, warmup=warmup, base=o.lr, minimum=o.min_lr)


def build_objective(cfg: TrainConfig, *, ground_dim: int) -> CrossViewObjective:
    """The encoder (initialised as ``optim.token_init`` says) inside the objective, seeded by ``run.seed``."""
    torch.manual_seed(cfg.run.seed)
    encoder = build_encoder(cfg.model, seed=cfg.run.seed)
    if cfg.optim.token_init == "zeros":  # the authors' init of the position rows and the prepended token
        with torch.no_grad():
            encoder.time_pos_encoding.zero_()
            encoder.class_token.zero_()
    o = cfg.objective
    return CrossViewObjective(encoder, ground_dim=ground_dim, pooling=o.pooling, queue_size=o.queue_size,
                              in_batch=o.in_batch, normalise_views=o.normalise_views, seed=cfg.run.seed)


def prepare_inputs(samples: Samples, preprocessing: Preprocessing) -> dict[str, torch.Tensor]:
    """Normalised inputs ``x`` (N, T, C, P, P) (0 where missing), ``valid`` (N, T), ground views and mask."""
    s2 = np.moveaxis(samples.s2, 2, -1)  # bands last for the normalisation
    x = np.moveaxis(preprocessing.normalise(s2), -1, 2)
    valid = np.isfinite(x).all(axis=(2, 3, 4))
    return {
        "x": torch.from_numpy(np.ascontiguousarray(np.nan_to_num(x, nan=0.0))),
        "valid": torch.from_numpy(valid),
        "views": torch.from_numpy(np.ascontiguousarray(samples.ground, dtype=np.float32)),
        "view_mask": torch.from_numpy(samples.ground_valid.astype(bool)),
    }


def preprocessing_of(samples: Samples) -> Preprocessing:
    """The preprocessing spec of a store: tsmap's normalisation with the store's composite rule."""
    comp = samples.attrs.get("composite")
    return Preprocessing(composite=CompositeSpec(**comp)) if comp else Preprocessing()


def train(config: TrainConfig, *, resume: str | bool = False, samples: Samples | None = None,
          stop_after: int | None = None, progress: bool = False) -> TrainResult:
    """Train the encoder described by ``config``; returns where the model and state went.

    ``resume``: True continues from ``run.out/state_last.pt``, a path from that file.
    ``samples``: use these instead of reading ``data.store`` (tests, the demo).
    ``stop_after``: stop after this many optimiser steps in total (an interruption, for testing resume).
    ``progress``: show a progress bar of the optimiser steps (``tqdm.auto``: a widget in notebooks).
    """
    threads = torch.get_num_threads()
    if config.run.threads:
        torch.set_num_threads(config.run.threads)
    try:
        return _train(config, resume, samples, stop_after, progress)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: TrainConfig, resume, samples, stop_after, progress=False) -> TrainResult:
    if os.path.exists(cfg.run.out) and not os.path.isdir(cfg.run.out):
        raise InputError(f"run.out {cfg.run.out!r} is a file; give a folder for the run's checkpoints and model")
    device = _device(cfg.run.device)
    if samples is None:
        samples = read_store(cfg.data.store, split=cfg.data.split, patch=cfg.data.patch)
    elif samples.patch != cfg.data.patch:
        raise InputError(
            f"samples have {samples.patch}x{samples.patch} patches, the config wants data.patch={cfg.data.patch}"
        )
    prep = preprocessing_of(samples)
    data = {k: v.to(device) for k, v in prepare_inputs(samples, prep).items()}
    n = len(samples)
    batch = cfg.optim.batch_size
    if n < batch:
        raise InputError(f"optim.batch_size ({batch}) is larger than the {n} training samples; lower it")
    total = cfg.optim.total_steps(n)
    if cfg.model.out_dim != samples.ground.shape[-1]:
        raise InputError(f"model.out_dim ({cfg.model.out_dim}) must equal the ground embedding size "
                         f"({samples.ground.shape[-1]}) of the training data")

    objective = build_objective(cfg, ground_dim=samples.ground.shape[-1]).to(device)
    objective.train()
    lr_of = schedule(cfg, n)
    optimizer = _optimizer(objective, cfg)
    start, losses = 0, []
    if resume:
        start, losses = _load_state(resume if isinstance(resume, str) else os.path.join(cfg.run.out, LAST_STATE),
                                    cfg, objective, optimizer, device)
    amp = _autocast(cfg.run.amp, device)
    os.makedirs(cfg.run.out, exist_ok=True)  # only now: a start that fails on its inputs leaves no empty run folder
    end = min(total, stop_after) if stop_after is not None else total
    state_path = os.path.join(cfg.run.out, LAST_STATE)
    sampler = _Sampler(n, batch, cfg.run.seed)
    t0, timed_from, step = time.perf_counter(), None, start
    from tqdm.auto import tqdm

    bar = tqdm(total=end, initial=start, desc="training", unit="step", disable=not progress, file=sys.stderr)
    with open(os.path.join(cfg.run.out, "train_log.jsonl"), "a", encoding="utf-8") as logf, bar:
        for step in range(start, end):
            if step == start + 1:
                timed_from = time.perf_counter()
            lr = lr_of(step)
            loss = _step(objective, optimizer, data, sampler, step, lr, cfg, amp)
            losses.append(loss)
            bar.update(1)
            if not math.isfinite(loss):
                raise ModelError(f"training diverged at step {step} (loss {loss}); lower optim.lr or check the data")
            done = step + 1
            if done % cfg.run.log_every == 0 or done == end:
                rec = {
                    "step": done,
                    "loss": round(loss, 6),
                    "lr": lr,
                    "logit_scale": float(objective.logit_scale.detach().exp()),
                }
                logf.write(json.dumps(rec) + "\n")
                log.info("step %d/%d loss %.4f lr %.2e", done, total, loss, lr)
            if cfg.run.checkpoint_every and done % cfg.run.checkpoint_every == 0:
                _save_state(
                    state_path,
                    cfg,
                    objective,
                    optimizer,
                    done,
                    losses,
                    keep=os.path.join(cfg.run.out, f"state_{done:07d}.pt"),
                )
            if cfg.run.max_seconds is not None and time.perf_counter() - t0 > cfg.run.max_seconds and done < end:
                log.warning("stopping after %d steps: run.max_seconds (%s s) reached", done, cfg.run.max_seconds)
                logf.write(json.dumps({"step": done, "loss": round(loss, 6), "stopped": "max_seconds"}) + "\n")
                end = done
                break
    done = end if end > start else start
    _save_state(state_path, cfg, objective, optimizer, done, losses)
    speed = 0.0
    if timed_from is not None and done - start > 1:
        speed = (done - start - 1) * batch * cfg.optim.accumulate / (time.perf_counter() - timed_from)
    model_path = None
    if done >= total or stop_after is None:
        model_path = save_model(
            objective.encoder.eval(), prep, os.path.join(cfg.run.out, MODEL_FILE),
            text_model={"clip_model": cfg.text.clip_model, "clip_pretrained": cfg.text.clip_pretrained},
            provenance={"training_store": os.path.abspath(cfg.data.store) if cfg.data.store else None,
                        "training_source": samples.attrs.get("source"), "split": cfg.data.split, "steps": done,
                        "config": cfg.to_dict(), "final_loss": losses[-1] if losses else None},
        )
    return TrainResult(model_path, state_path, done, total, losses, speed)


def _step(objective, optimizer, data, sampler, step, lr, cfg: TrainConfig, amp) -> float:
    for group in optimizer.param_groups:
        group["lr"] = lr
    torch.manual_seed(_step_seed(cfg.run.seed, step))  # dropout masks
    gen = torch.Generator().manual_seed(_step_seed(cfg.run.seed, step) + 1)  # augmentations
    optimizer.zero_grad(set_to_none=True)
    pooled, total = [], 0.0
    accum = cfg.optim.accumulate
    for micro in range(accum):
        idx = sampler.indices(step * accum + micro).to(data["x"].device)
        aug = augment(data["x"][idx], data["valid"][idx], cfg.augment, gen)
        with amp:
            loss, g = objective(aug.x, aug.valid, data["views"][idx], data["view_mask"][idx], aug.single)
        (loss / accum).backward()
        if cfg.objective.enqueue == "micro-batch":  # the next micro-batch already sees these negatives
            objective.queue.push(g)
        else:
            pooled.append(g)
        total += float(loss.detach()) / accum
    optimizer.step()
    objective.clamp_temperature()
    if pooled:
        objective.queue.push(torch.cat(pooled))
    return total


class _Sampler:
    """Micro-batch m of the run: a slice of epoch e's permutation (seeded by seed and e)."""

    def __init__(self, n: int, batch: int, seed: int) -> None:
        self.n, self.size, self.seed = n, batch, seed
        self.per_epoch = n // batch
        self._epoch, self._perm = -1, None

    def indices(self, m: int) -> torch.Tensor:
        epoch, j = divmod(m, self.per_epoch)
        if epoch != self._epoch:
            self._perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 7919 + epoch))
            self._epoch = epoch
        return self._perm[j * self.size : (j + 1) * self.size]


def _step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7 + 11) % (2**62)


def _optimizer(objective: CrossViewObjective, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for n, p in objective.named_parameters() if n != "logit_scale"]
    scale_decay = cfg.optim.weight_decay if cfg.optim.decay_logit_scale else 0.0
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.optim.weight_decay},
         {"params": [objective.logit_scale], "weight_decay": scale_decay}],
        lr=cfg.optim.lr,
    )


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    check_device(name, option="run.device")
    return torch.device(name)


def _autocast(mode: str, device: torch.device):
    enabled = mode == "on" or (mode == "auto" and device.type == "cuda")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def _save_state(path, cfg, objective, optimizer, step, losses, keep: str | None = None) -> None:
    state = {"format": STATE_FORMAT, "version": 1, "step": step, "config": cfg.to_dict(),
             "objective": objective.state_dict(), "optimizer": optimizer.state_dict(), "losses": list(losses)}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    if keep:
        torch.save(state, keep)


def _load_state(path, cfg, objective, optimizer, device) -> tuple[int, list[float]]:
    if not os.path.exists(path):
        raise InputError(f"cannot resume: {path!r} does not exist; train without --resume first")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise ModelError(f"cannot read training state {path!r} ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ModelError(f"{path!r} is not a tsmap training state")
    saved = config_from_dict(_tuples(state["config"]), where=path).to_dict()
    differ = _differences(saved, cfg.to_dict(), ignore={("run", "max_seconds"), ("run", "log_every")})
    if differ:
        raise InputError(
            f"cannot resume from {path!r}: the config differs in {', '.join(differ)}; use the run's own config"
        )
    objective.load_state_dict(state["objective"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), list(state["losses"])


def _tuples(doc: dict) -> dict:
    return {k: ({kk: (tuple(vv) if isinstance(vv, list) else vv) for kk, vv in v.items()} if isinstance(v, dict) else v)
            for k, v in doc.items()}


def _differences(a: dict, b: dict, *, ignore: set) -> list[str]:
    out = []
    for section in a:
        if not isinstance(a[section], dict):  # recipe
            if a[section] != b.get(section):
                out.append(section)
            continue
        for key in a[section]:
            if (section, key) not in ignore and _plain(a[section][key]) != _plain(b[section].get(key)):
                out.append(f"{section}.{key}")
    return out


def _plain(v):
    return list(v) if isinstance(v, tuple) else v
