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
    assert cfg.objective.queue_size == 2048 and cfg.text.clip_model == "ViT-B-32"
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


def test_round_trip_through_dict():
    cfg = config_from_dict({"data": {"store": "a"}, "run": {"out": "b"}, "optim": {"steps": 3}})
    again = config_from_dict({k: {kk: (list(vv) if isinstance(vv, tuple) else vv) for kk, vv in v.items()}
                              for k, v in cfg.to_dict().items()})
    assert again == cfg
