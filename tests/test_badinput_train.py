"""`tsmap train` / `prepare` / `eval`: bad configs and files are one line; a failed start leaves no run folder."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tsmap_train.cli import cli

from .badinput import ALIAS_BOMB, Case, run_case, write
from .test_train_cli import _files

MODEL = "model: {dim: 32, depth: 1, heads: 4, mlp_dim: 32}\nobjective: {queue_size: 16}\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    h5, emb = _files(root)
    res = CliRunner().invoke(
        cli, ["prepare", h5, "--embeddings", emb, "--out", str(root / "store.zarr"), "--split", "0.5,0,0.5"]
    )
    assert res.exit_code == 0, res.output
    return {"store": str(root / "store.zarr"), "h5": h5, "emb": emb}


def _config(body: str, name: str = "in/cfg.yaml"):
    return lambda root: write(
        root, name, body.replace("RUN", str(root / "out" / "run")).replace("STORE", _STORE["store"])
    )


def good(extra: str = "") -> str:
    optim = "optim: {steps: 2, batch_size: 8, lr: 1.0e-3}\n"
    return f"data: {{store: STORE}}\n{MODEL}{optim}run: {{out: RUN, threads: 1}}\n{extra}"


def train(*extra: str) -> tuple[str, ...]:
    return ("train", "--config", "{in}/cfg.yaml", *extra)


CASES = [
    # the config file
    Case("config-missing", train(), phrase="does not exist"),
    Case("config-folder", ("train", "--config", "{in}"), phrase="is a folder"),
    Case(
        "config-latin1",
        train(),
        phrase="is not UTF-8",
        setup=lambda root: write(
            root, "in/cfg.yaml", "# Trainingslauf f\xfcr M\xe4rz\ndata: {store: x}\n".encode("latin-1")
        ),
    ),
    Case("config-alias-bomb", train(), phrase="aliases", setup=_config(ALIAS_BOMB)),
    Case("config-not-yaml", train(), phrase="not valid YAML", setup=_config("data: [1, 2\n")),
    Case("config-a-list", train(), phrase="must be a mapping", setup=_config("- data\n- run\n")),
    Case(
        "section-a-list",
        train(),
        phrase="section 'optim' must be a mapping",
        setup=_config(good().replace("optim: {", "optim: [").replace("1.0e-3}", "1.0e-3]")),
    ),
    Case(
        "section-a-string",
        train(),
        phrase="section 'run' must be a mapping",
        setup=_config("data: {store: STORE}\nrun: fast\n"),
    ),
    Case(
        "section-a-list-with-set",
        train("--set", "optim.steps=3"),
        phrase="section 'data' must be a mapping",
        setup=_config("data: [STORE]\nrun: {out: RUN}\n"),
    ),
    Case(
        "store-not-a-string",
        train(),
        phrase="data.store must be a string",
        setup=_config(good().replace("store: STORE", "store: 5")),
    ),
    Case(
        "out-not-a-string",
        train(),
        phrase="run.out must be a string",
        setup=_config(good().replace("out: RUN", "out: [a, b]")),
    ),
    Case(
        "steps-a-string",
        train(),
        phrase="optim.steps must be an integer",
        setup=_config(good().replace("steps: 2", "steps: two")),
    ),
    Case(
        "batch-a-float",
        train(),
        phrase="optim.batch_size must be an integer",
        setup=_config(good().replace("batch_size: 8", "batch_size: 8.5")),
    ),
    Case(
        "flag-not-bool",
        train(),
        phrase="objective.in_batch must be true or false",
        setup=_config(good("").replace("queue_size: 16}", "queue_size: 16, in_batch: maybe}")),
    ),
    Case(
        "unknown-key",
        train(),
        phrase="unknown key(s) ['momentum']",
        setup=_config(good().replace("lr: 1.0e-3", "lr: 1.0e-3, momentum: 0.9")),
    ),
    # --set
    Case("set-no-equals", train("--set", "optim.steps"), phrase="section.key=value", setup=_config(good())),
    Case("set-no-section", train("--set", "steps=3"), phrase="section.key=value", setup=_config(good())),
    Case("set-bad-yaml", train("--set", "optim.steps=[3"), phrase="not valid YAML", setup=_config(good())),
    Case(
        "set-wrong-type",
        train("--set", "optim.batch_size=abc"),
        phrase="optim.batch_size must be an integer",
        setup=_config(good()),
    ),
    Case("set-unknown-section", train("--set", "optimiser.steps=3"), phrase="unknown section", setup=_config(good())),
    Case("set-alias-bomb", train("--set", "optim.lr=[*a]"), phrase="not valid YAML", setup=_config(good())),
    # failed starts leave no run folder
    Case(
        "store-missing",
        train(),
        phrase="does not exist",
        setup=_config(good().replace("store: STORE", "store: /nowhere/s.zarr")),
    ),
    Case(
        "batch-larger-than-data",
        train("--set", "optim.batch_size=4096"),
        phrase="larger than the",
        setup=_config(good()),
    ),
    Case("resume-file-missing", train("--resume"), phrase="cannot resume", setup=_config(good())),
    Case(
        "resume-file-not-a-state",
        ("train", "--config", "{in}/cfg.yaml", "--resume-from", "{in}/cfg.yaml"),
        phrase="training state",
        setup=_config(good()),
    ),
    Case("out-dim-mismatch", train("--set", "model.out_dim=8"), phrase="model.out_dim", setup=_config(good())),
    Case(
        "run-out-is-a-file",
        train(),
        phrase="is a file",
        setup=lambda root: (_config(good())(root), write(root, "out/run", "x\n")),
    ),
    Case("device-gpu", train("--set", "run.device=gpu"), phrase="run.device 'gpu'", setup=_config(good())),
    # prepare
    Case(
        "prepare-missing-h5",
        ("prepare", "{in}/none.h5", "--embeddings", "{emb}", "--out", "{out}/s.zarr"),
        phrase="does not exist",
    ),
    Case("prepare-no-ground", ("prepare", "{h5}", "--out", "{out}/s.zarr"), phrase="exactly one ground source"),
    Case(
        "prepare-bad-split",
        ("prepare", "{h5}", "--embeddings", "{emb}", "--out", "{out}/s.zarr", "--split", "a,b,c"),
        phrase="comma-separated numbers",
    ),
    Case(
        "prepare-split-sum",
        ("prepare", "{h5}", "--embeddings", "{emb}", "--out", "{out}/s.zarr", "--split", "0.5,0.5,0.5"),
        phrase="summing to 1",
    ),
    Case(
        "prepare-patch-0",
        ("prepare", "{h5}", "--embeddings", "{emb}", "--out", "{out}/s.zarr", "--patch", "0"),
        code=2,
        phrase="Invalid value for '--patch'",
    ),
    Case(
        "prepare-rule-bogus",
        ("prepare", "{h5}", "--embeddings", "{emb}", "--out", "{out}/s.zarr", "--rule", "cloudy"),
        code=2,
        phrase="Invalid value for '--rule'",
    ),
    Case(
        "prepare-out-exists",
        ("prepare", "{h5}", "--embeddings", "{emb}", "--out", "{out}/s.zarr"),
        phrase="--overwrite",
        setup=lambda root: write(root, "out/s.zarr/mine.txt", "x\n"),
    ),
    Case(
        "prepare-labels-latin1",
        ("prepare", "{h5}", "--embeddings", "{emb}", "--out", "{out}/s.zarr", "--labels", "{in}/l.csv"),
        phrase="is not UTF-8",
        setup=lambda root: write(root, "in/l.csv", "im_id,lc_label\n1,Gew\xe4sser\n".encode("latin-1")),
    ),
    Case(
        "prepare-h5-is-text",
        ("prepare", "{in}/x.h5", "--embeddings", "{emb}", "--out", "{out}/s.zarr"),
        phrase="is not a readable HDF5 file",
        setup=lambda root: write(root, "in/x.h5", "text\n"),
    ),
    Case(
        "prepare-embeddings-text",
        ("prepare", "{h5}", "--embeddings", "{in}/e.pt", "--out", "{out}/s.zarr"),
        phrase="e.pt",
        setup=lambda root: write(root, "in/e.pt", "text\n"),
    ),
    # eval
    Case(
        "eval-checkpoint-missing",
        ("eval", "--checkpoint", "{in}/none.safetensors", "--store", "{store}"),
        phrase="does not exist",
    ),
    Case(
        "eval-checkpoint-text",
        ("eval", "--checkpoint", "{in}/c.ckpt", "--store", "{store}"),
        phrase="is not a checkpoint",
        setup=lambda root: write(root, "in/c.ckpt", "text\n"),
    ),
    Case(
        "eval-store-missing",
        ("eval", "--checkpoint", "{in}/c.ckpt", "--store", "{in}/none.zarr"),
        phrase="does not exist",
    ),
    Case("eval-prompts-syntax", ("eval", "--checkpoint", "x", "--store", "y", "--prompts", "lc"), phrase="TASK=FILE"),
]

_STORE: dict[str, str] = {}


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_train_bad_input(case, tmp_path, store):
    _STORE.update(store)
    run_case(case, tmp_path, cli, **store)
    assert not (tmp_path / "out" / "run").is_dir(), "a failed start left a run folder"
