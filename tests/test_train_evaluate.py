"""Evaluation: temporal inputs, zero-shot, retrieval and scenicness wiring, on a model with known outputs."""

import json

import numpy as np
import pytest
import torch
from scipy import stats

from tsmap.errors import InputError
from tsmap.model import EncoderConfig
from tsmap.scorers import class_embeddings
from tsmap.specs import SEN4MAP_HI, SEN4MAP_LO
from tsmap.prompts import PromptClass, PromptSet
from tsmap.text import encode_texts
from tsmap_train.classes import LAND_COVER
from tsmap_train.evaluate import EvalSpec, evaluate, temporal_input
from tsmap_train.store import Samples

N = 48


class Oracle(torch.nn.Module):
    """Returns row ``label`` of ``table``, the label being written into band 0 of the first valid month."""

    def __init__(self, table):
        super().__init__()
        self.config = EncoderConfig(patch=1, out_dim=table.shape[1])
        self.register_buffer("table", torch.as_tensor(table))
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, valid):
        v = x.reshape(*x.shape[:2], -1)[..., 0]
        first = valid.float().argmax(dim=1)
        return self.table[(v[torch.arange(len(v)), first] * 10).floor().long()]


@pytest.fixture(scope="module")
def names_emb():
    ps = PromptSet("lc-names", tuple(PromptClass(n, (n,)) for n in LAND_COVER.classes))
    return class_embeddings(ps, clip_pretrained="none").vectors


def _samples(names_emb, seed=0):
    rng = np.random.default_rng(seed)
    lc = np.arange(N) % 8
    s2 = rng.uniform(500, 3000, (N, 12, 10, 1, 1)).astype(np.float32)
    s2[:, :, 0] = (SEN4MAP_LO[0] + (lc + 0.5) / 10 * SEN4MAP_HI[0])[:, None, None, None]
    s2[::5, :4] = np.nan  # some points miss months
    ground = names_emb[lc][:, None, :] + rng.normal(0, 0.01, (N, 4, 512))
    labels = {"lc": np.where(np.arange(N) % 7 == 3, -1, lc), "country": lc % 3, "lu": np.full(N, -1)}
    return Samples(
        s2=s2,
        ground=ground.astype(np.float32),
        ground_valid=np.ones((N, 4), bool),
        labels=labels,
        point_id=np.array([f"P{i}" for i in range(N)]),
        lon=np.zeros(N),
        lat=np.zeros(N),
        split=np.array(["test"] * N),
        attrs={"composite": {"rule": "clean", "periods": 12, "keep_snow": False}},
    )


def test_temporal_inputs_are_medians_of_valid_months():
    x = torch.rand(3, 12, 10, 1, 1)
    valid = torch.ones(3, 12, dtype=torch.bool)
    valid[1, 0:2] = False
    valid[2, 3:6] = False
    q, qv = temporal_input(x, valid, "quarterly")
    assert q.shape == (3, 4, 10, 1, 1) and qv.tolist()[2] == [True, False, True, True]
    torch.testing.assert_close(q[0, 1], x[0, 3:6].median(dim=0).values)
    torch.testing.assert_close(q[1, 0], x[1, 2])  # only month 2 is valid in the first quarter
    assert (q[2, 1] == 0).all()
    s, sv = temporal_input(x, valid, "single")
    assert s.shape == (3, 1, 10, 1, 1) and sv.all()
    torch.testing.assert_close(s[1, 0], x[1, 2:].median(dim=0).values)


def test_zero_shot_and_retrieval(names_emb, tmp_path):
    samples = _samples(names_emb)
    yaml_path = tmp_path / "lc.yaml"  # descriptive prompts in another order, matched by name or code
    yaml_path.write_text("classes:\n" + "".join(
        f"  - name: {'X' + c if i % 2 else c}\n    code: {'ABCDEFGH'[i]}\n    prompts: [a view of {c.lower()}]\n"
        for i, c in reversed(list(enumerate(LAND_COVER.classes)))))
    spec = EvalSpec(
        tasks=("lc", "lu"),
        clip_pretrained="none",
        prompt_sets={"lc": str(yaml_path)},
        retrieval_tasks=("lc", "country"),
    )
    report = evaluate(samples=samples, model=Oracle(names_emb), spec=spec)
    n = int((samples.labels["lc"] >= 0).sum())
    for mode in ("monthly", "quarterly", "single"):
        assert report.value("lc", "top1", "class-name", mode) == 1.0
        assert (
            report.value("lc", "recall@1_s2g", "-", mode) == 1.0
            and report.value("lc", "recall@1_g2s", "-", mode) == 1.0
        )
        assert report.value("country", "recall@1_s2g", "-", mode) == 1.0
    assert 0.0 <= report.value("lc", "top1", "descriptive", "monthly") <= 1.0
    assert all(r.n == n for r in report.rows if r.task == "lc")
    assert "lu: no labels in this split, skipped" in report.notes
    table = report.table()
    assert table.splitlines()[0].split()[:3] == ["task", "metric", "prompts"] and "descriptive" in table
    doc = json.loads(report.to_json())
    assert len(doc["rows"]) == len(report.rows) and doc["meta"]["n_points"] == N


def test_template_kind_is_the_papers_single_template_and_the_ensemble_is_separate(names_emb):
    """The oracle returns the text embedding of "a centered satellite image of {class}": top-1 is 1.0
    with the paper's template, and the 7-template ensemble is another, opt-in kind."""
    from tsmap.zeroshot import ensemble

    from tsmap_train.evaluate import PAPER_TEMPLATE, TEMPLATES

    assert (
        EvalSpec().prompt_kinds == ("class-name", "template", "descriptive") and EvalSpec().template == PAPER_TEMPLATE
    )
    paper = encode_texts([PAPER_TEMPLATE.format(c) for c in LAND_COVER.classes], pretrained="none")
    spec = EvalSpec(
        tasks=("lc",),
        prompt_kinds=("template", "template-ensemble"),
        temporal=("monthly",),
        retrieval=False,
        clip_pretrained="none",
    )
    samples = _samples(names_emb)
    report = evaluate(samples=samples, model=Oracle(paper), spec=spec)
    assert report.value("lc", "top1", "template", "monthly") == 1.0
    pooled = ensemble([encode_texts([t.format(c) for t in TEMPLATES], pretrained="none") for c in LAND_COVER.classes])
    labels = samples.labels["lc"]
    keep = labels >= 0
    want = float(np.mean((paper[labels[keep]] @ pooled.T).argmax(1) == labels[keep]))
    assert report.value("lc", "top1", "template-ensemble", "monthly") == pytest.approx(want)
    assert len(TEMPLATES) == 7 and want < 1.0  # the ensemble is really another prompt kind


def test_scenicness_average_is_the_mean_of_early_and_k_2_5_8_10(names_emb, tmp_path):
    samples = _samples(names_emb)
    gt = {f"P{i}": float(1 + (i * 3) % 10) for i in range(N)}
    (tmp_path / "son.csv").write_text("point_id,score\n" + "".join(f"{k},{v}\n" for k, v in gt.items()))
    words = [
        "forest",
        "road",
        "lake",
        "factory",
        "farm",
        "beach",
        "mountain",
        "car park",
        "river",
        "village",
        "meadow",
        "quarry",
    ]
    prompts = [(0, 1 + i % 10, f"a {w}") for i, w in enumerate(words[:10])] + [
        (1, 1 + (3 * i) % 10, f"the {w}") for i, w in enumerate(words)
    ]
    (tmp_path / "rated.csv").write_text(",user_index,have_been,confidence,values_in_order,prompts_in_order\n" +
                                        "".join(f"{i},{u},,,{v},{p}\n" for i, (u, v, p) in enumerate(prompts)))
    report = evaluate(samples=samples, model=Oracle(names_emb),
                      spec=EvalSpec(tasks=(), retrieval=False, temporal=("monthly", "single"), clip_pretrained="none"),
                      scenic_scores=str(tmp_path / "son.csv"), scenic_prompts=str(tmp_path / "rated.csv"))
    for metric in ("pearson_r", "kendall_tau"):
        for mode in ("monthly", "single"):
            parts = [
                report.value("scenicness", metric, k, mode)
                for k in ("early", "late-k2", "late-k5", "late-k8", "late-k10")
            ]
            assert report.value("scenicness", metric, "average", mode) == pytest.approx(np.mean(parts), abs=1e-12)
            assert len(set(parts)) > 1  # the ensembles differ, so the average is not one of them
    assert not any("no paper average" in n for n in report.notes)


def test_descriptive_set_may_cover_part_of_a_task(names_emb, tmp_path):
    part = tmp_path / "part.yaml"
    part.write_text("classes:\n  - name: Water\n    prompts: [Water]\n  - name: cropland\n    prompts: [Cropland]\n")
    samples = _samples(names_emb)
    spec = EvalSpec(
        tasks=("lc",),
        prompt_kinds=("descriptive",),
        clip_pretrained="none",
        prompt_sets={"lc": str(part)},
        retrieval=False,
    )
    report = evaluate(samples=samples, model=Oracle(names_emb), spec=spec)
    lc = samples.labels["lc"]
    assert report.rows[0].n == int(np.isin(lc, [1, 6]).sum())
    assert (
        report.value("lc", "top1", "descriptive", "monthly") == 1.0
    )  # prompts equal the class names the oracle returns
    assert any("points of classes without prompts left out" in n for n in report.notes)
    bad = tmp_path / "bad.yaml"
    bad.write_text("classes:\n  - name: Cropland\n  - name: Moon\n")
    with pytest.raises(InputError, match="not \\(or twice\\) classes of task lc: \\['Moon'\\]"):
        evaluate(
            samples=samples,
            model=Oracle(names_emb),
            spec=EvalSpec(**{**spec.__dict__, "prompt_sets": {"lc": str(bad)}}),
        )


def test_scenicness_rows_match_a_direct_computation(names_emb, tmp_path):
    samples = _samples(names_emb)
    gt = {f"P{i}": float(1 + (i * 7) % 10) for i in range(0, N, 2)}
    (tmp_path / "son.csv").write_text("point_id,score\n" + "".join(f"{k},{v}\n" for k, v in gt.items()))
    prompts = [(0, 8, "A quiet path in a forest"), (0, 3, "a busy road"), (1, 9, "a lake in the mountains"),
               (1, 2, "an industrial estate"), (1, 6, "farmland with hedges"), (2, 7, "a sandy beach")]
    (tmp_path / "rated.csv").write_text(",user_index,have_been,confidence,values_in_order,prompts_in_order\n" +
                                        "".join(f"{i},{u},,,{v},{p}\n" for i, (u, v, p) in enumerate(prompts)))
    report = evaluate(samples=samples, model=Oracle(names_emb),
                      spec=EvalSpec(tasks=(), retrieval=False, temporal=("monthly",), clip_pretrained="none"),
                      scenic_scores=str(tmp_path / "son.csv"), scenic_prompts=str(tmp_path / "rated.csv"))
    idx = np.array([int(k[1:]) for k in gt])
    sat = names_emb[np.arange(N) % 8][idx]
    text = encode_texts([p for _, _, p in prompts], pretrained="none")
    values = np.array([v for _, v, _ in prompts], float)
    logits = 100 * text @ sat.T
    w = np.exp(logits - logits.max(0))
    early = values @ (w / w.sum(0))
    truth = np.array(list(gt.values()))
    assert report.value("scenicness", "pearson_r", "early", "monthly") == pytest.approx(
        stats.pearsonr(early, truth)[0], abs=1e-5
    )
    assert report.value("scenicness", "kendall_tau", "early", "monthly") == pytest.approx(
        stats.kendalltau(early, truth)[0], abs=1e-5
    )
    raters = np.array([u for u, _, _ in prompts])
    late = np.mean(
        [
            values[raters == r]
            @ (
                np.exp(logits[raters == r] - logits[raters == r].max(0))
                / np.exp(logits[raters == r] - logits[raters == r].max(0)).sum(0)
            )
            for r in (0, 1)
        ],
        axis=0,
    )
    assert report.value("scenicness", "pearson_r", "late-k2", "monthly") == pytest.approx(
        stats.pearsonr(late, truth)[0], abs=1e-5
    )
    with pytest.raises(KeyError):
        report.value("scenicness", "pearson_r", "late-k5", "monthly")  # no rater has 5 prompts
    with pytest.raises(KeyError):
        report.value("scenicness", "pearson_r", "average", "monthly")  # so no paper average either
    assert any("no paper average" in n for n in report.notes)
    with pytest.raises(InputError, match="needs both"):
        evaluate(
            samples=samples,
            model=Oracle(names_emb),
            spec=EvalSpec(tasks=(), retrieval=False, clip_pretrained="none"),
            scenic_scores=str(tmp_path / "son.csv"),
        )


def test_spec_validation():
    with pytest.raises(InputError, match="unknown temporal mode"):
        EvalSpec(temporal=("weekly",))
