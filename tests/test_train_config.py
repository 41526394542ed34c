"""The training config: YAML, overrides, validation with clear messages."""

import pytest

from tsmap.errors import InputError
from tsmap_train.config import config_from_dict, load_config

BASE = "data: {store: s.zarr}\nrun: {out: runs/x}\n"


def test_yaml_defaults_and_overrides(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(BASE + "model: {dim: 64, depth: 2, heads: 4, mlp_dim: 128}\noptim: {lr: 1e-3, steps: 10}\n"
                    "augment: {name: tsmsdrop, always_bands: [0, 1, 2]}\n")
    cfg = load_config(path, overrides=["optim.steps=25", "objective.pooling=attention", "run.seed=3"])
    assert cfg.optim.lr == 1e-3 and cfg.optim.steps == 25 and cfg.model.dim == 64 and cfg.model.heads == 4
    assert cfg.objective.pooling == "attention" and cfg.run.seed == 3 and cfg.augment.always_bands == (0, 1, 2)
    assert cfg.objective.queue_size == 2048 and cfg.text.clip_model == "ViT-B-32-quickgelu"
    default = load_config(_write(tmp_path, BASE))
    assert default.optim.epochs == 100 and default.optim.total_steps(10_240) == 1000


def _write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, fragment", [
    (BASE + "optim: {lr: 1e-3}\n", "exactly one of steps or epochs"),
    (BASE + "optim: {steps: 5, lr: fast}\n", "must be a number"),
    (BASE + "optimiser: {steps: 5}\n", "unknown section"),
    (BASE + "optim: {steps: 5, momentum: 0.9}\n", "unknown key(s) ['momentum']"),
    (BASE + "objective: {pooling: max}\n", "pooling"),
    (BASE + "augment: {name: cutmix}\n", "unknown augmentation"),
    (BASE + "model: {dim: 30, heads: 4}\n", "divisible"),
    (BASE + "model: {patch: 5}\n", "must equal data.patch"),
    ("run: {out: x}\n", "data.store is required"),
    (BASE + "run: {amp: maybe}\n", "run.amp"),
    ("data: [1, 2\n", "not valid YAML"),
])
def test_errors_name_the_problem(tmp_path, text, fragment):
    with pytest.raises(InputError) as info:
        load_config(_write(tmp_path, text))
    assert fragment in str(info.value)


def test_missing_file_and_bad_override(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="section.key=value"):
        load_config(_write(tmp_path, BASE), overrides=["steps=3"])


@pytest.mark.parametrize("recipe", ["tsmap", "authors"])
def test_round_trip_through_dict(recipe):
    cfg = config_from_dict({"recipe": recipe, "data": {"store": "a"}, "run": {"out": "b"}, "optim": {"steps": 3}})
    again = config_from_dict({k: ({kk: (list(vv) if isinstance(vv, tuple) else vv) for kk, vv in v.items()}
                                  if isinstance(v, dict) else v) for k, v in cfg.to_dict().items()})
    assert again == cfg and again.recipe == recipe


def test_authors_recipe_fills_defaults_and_explicit_keys_win(tmp_path):
    authors = load_config(_write(tmp_path, BASE + "recipe: authors\n"))
    assert authors.recipe == "authors" and authors.model.dropout == 0.2 and authors.optim.accumulate == 8
    objective, augment = authors.objective, authors.augment
    assert (objective.pooling, objective.normalise_views, objective.enqueue) == ("attention", False, "micro-batch")
    assert (augment.drop_at_least_one, augment.spectral_gated, augment.median) == (True, False, "tokens")
    assert (authors.optim.schedule, authors.optim.anneal_epochs, authors.optim.warmup(10_000)) == ("cycles", 10, 0)
    assert authors.optim.decay_logit_scale and authors.optim.token_init == "zeros"
    tsmap = load_config(_write(tmp_path, BASE))
    assert tsmap.recipe == "tsmap" and tsmap.model.dropout == 0.1 and tsmap.optim.accumulate == 1
    assert (tsmap.objective.pooling, tsmap.objective.normalise_views, tsmap.objective.enqueue) == ("mean", True, "step")
    augment = tsmap.augment
    assert (augment.drop_at_least_one, augment.spectral_gated, augment.median) == (False, True, "inputs")
    assert (tsmap.optim.schedule, tsmap.optim.decay_logit_scale, tsmap.optim.token_init) == ("cosine", False, "normal")
    # explicit keys win over the preset, in the file and on the command line; --set recipe=... picks one
    text = BASE + "recipe: authors\nobjective: {pooling: mean}\nmodel: {dim: 64, heads: 4}\n"
    mixed = load_config(_write(tmp_path, text),
                        overrides=["optim.accumulate=2", "optim.steps=9", "augment.median=inputs"])
    assert mixed.objective.pooling == "mean" and mixed.objective.enqueue == "micro-batch" and mixed.model.dropout == 0.2
    assert mixed.model.dim == 64 and mixed.optim.accumulate == 2 and mixed.augment.median == "inputs"
    assert mixed.augment.spectral_gated is False
    assert load_config(_write(tmp_path, BASE), overrides=["recipe=authors"]).optim.schedule == "cycles"
    back = load_config(_write(tmp_path, BASE + "recipe: authors\n"), overrides=["recipe=tsmap"])
    assert back.optim.schedule == "cosine"
    text = BASE + "recipe: authors\noptim: {warmup_epochs: 10, epochs: 100, batch_size: 1000}\n"
    paper = load_config(_write(tmp_path, text))
    assert paper.optim.warmup(140_000) == 175  # 10 epochs of 140 micro-batches, accumulate 8


@pytest.mark.parametrize("text, fragment", [
    (BASE + "recipe: paper\n", "recipe 'paper' must be one of tsmap, authors"),
    (BASE + "recipe: [authors]\n", "recipe ['authors'] must be one of"),
    (BASE + "recipe: authors\noptim: {lr: 1e-3}\n", "exactly one of steps or epochs"),
    (BASE + "optim: {steps: 5, warmup_steps: 3, warmup_epochs: 1}\n", "not both"),
    (BASE + "optim: {steps: 5, schedule: step}\n", "optim.schedule"),
    (BASE + "optim: {steps: 5, token_init: ones}\n", "optim.token_init"),
    (BASE + "objective: {enqueue: epoch}\n", "objective.enqueue"),
    (BASE + "objective: {normalise_views: maybe}\n", "objective.normalise_views must be true or false"),
    (BASE + "augment: {median: mean}\n", "augment.median"),
])
def test_recipe_errors_name_the_problem(tmp_path, text, fragment):
    with pytest.raises(InputError) as info:
        load_config(_write(tmp_path, text))
    assert fragment in str(info.value)
