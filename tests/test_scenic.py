from collections import Counter

import numpy as np
import pytest
import xarray as xr

from tsmap.errors import InputError
from tsmap.scenic import (
    PAPER_MIN_PROMPTS,
    ScenicPrompts,
    bundled_scenic,
    load_scenic,
    parse_scenic,
    read_rated_csv,
    scenicness,
)
from tsmap.zeroshot import l2_normalise
from tsmap.text import encode_texts

from .conftest import shared_path
from .test_zeroshot import lvis_embeddings


#: Prompts per rater of :func:`rated_set`, and how many raters have >= k of them for k in PAPER_MIN_PROMPTS.
RATER_PROMPTS = (12, 10, 9, 6, 5, 3, 2, 1)
RATERS_AT_LEAST = (7, 5, 3, 2)


def rated_csv():
    """Levering et al.'s rated prompts (../shared/reference): not vendored, so the test reading it may skip."""
    return shared_path("reference", "scenicness-rated-prompts.csv")


def rated_set(folder) -> ScenicPrompts:
    """A made-up rated-prompt CSV in the Levering et al. layout (raters interleaved, blank survey columns)."""
    rng = np.random.default_rng(7)
    raters = rng.permutation([r for r, n in enumerate(RATER_PROMPTS) for _ in range(n)])
    rows = [f"{i},{r},,,{rng.integers(1, 11)},landscape {i} by rater {r}" for i, r in enumerate(raters)]
    path = folder / "rated.csv"
    path.write_text(",user_index,have_been,confidence,values_in_order,prompts_in_order\n" + "\n".join(rows) + "\n")
    return read_rated_csv(path)


def direct_scores(pix, text, values, raters, *, method, k=2, scale=100.0):
    """The formulas of scenicness-method.txt, pixel by pixel, in float64."""
    out = []
    for v in pix.astype(np.float64):
        logits = scale * (text.astype(np.float64) @ v)
        if method == "early":
            a = np.exp(logits - logits.max())
            out.append((a / a.sum() * values).sum())
            continue
        per_rater = []
        for r in dict.fromkeys(raters):
            idx = [p for p, rr in enumerate(raters) if rr == r]
            if len(idx) < k:
                continue
            a = np.exp(logits[idx] - logits[idx].max())
            per_rater.append((a / a.sum() * values[idx]).sum())
        out.append(np.mean(per_rater))
    return np.array(out)


def test_reads_the_levering_rated_csv():
    sp = read_rated_csv(rated_csv())
    assert len(sp.texts) == 137 and len(sp.rater_counts()) == 27
    counts = sp.rater_counts().values()
    assert [sum(n >= k for n in counts) for k in PAPER_MIN_PROMPTS] == [19, 12, 7, 4]
    hist = Counter(int(v) for v in sp.values)
    assert [hist[i] for i in range(1, 11)] == [14, 6, 3, 6, 10, 17, 20, 33, 14, 14]
    pairs = dict(zip(sp.texts, sp.values))
    assert pairs["A busy dense urban area"] == 2 and pairs["Lake in a rugged landscape and a castle"] == 10
    assert load_scenic(str(rated_csv())).sha256() == sp.sha256()


@pytest.mark.parametrize("method, k", [("early", 2)] + [("late", k) for k in PAPER_MIN_PROMPTS])
def test_early_and_late_ensembling_match_the_formulas(method, k, tmp_path):
    sp = rated_set(tmp_path)
    assert [sum(n >= k for n in sp.rater_counts().values()) for k in PAPER_MIN_PROMPTS] == list(RATERS_AT_LEAST)
    lvis = lvis_embeddings()
    # REAL CLIP text geometry stands in for the prompts' embeddings (no CLIP weights offline)
    text = l2_normalise(np.stack(list(lvis.values())[: len(sp.texts)]))
    rng = np.random.default_rng(k)
    mix = rng.dirichlet(np.full(len(text), 0.05), size=11).astype(np.float32)
    pix = l2_normalise(mix @ text + rng.normal(0, 0.01, (11, 512)).astype(np.float32))
    cube = np.full((512, 3, 4), np.nan, np.float32)
    cube.reshape(512, 12)[:, :11] = pix.T  # the last pixel is nodata
    em = xr.DataArray(cube, dims=("embed", "y", "x")).chunk({"y": 2, "x": 2})

    out = scenicness(em, sp, method=method, min_prompts=k, text_embeddings=text).compute()
    ref = direct_scores(pix, text, np.asarray(sp.values), sp.raters, method=method, k=k)
    assert out.dtype == np.float32 and out.dims == ("y", "x") and out.name == "scenicness"
    np.testing.assert_allclose(out.values.ravel()[:11], ref, rtol=1e-4)
    assert np.isnan(out.values.ravel()[11])
    assert ((out.values.ravel()[:11] >= 1) & (out.values.ravel()[:11] <= 10)).all()
    assert np.ptp(ref) > 0.5  # the pixels really differ, so the check is not vacuous
    if method == "late":
        raters = RATERS_AT_LEAST[PAPER_MIN_PROMPTS.index(k)]
        assert out.attrs["scenic_method"].startswith(f"late (mean over {raters} raters")


def test_late_differs_from_early_on_a_rated_set(tmp_path):
    sp = rated_set(tmp_path)
    text = l2_normalise(np.random.default_rng(0).normal(size=(len(sp.texts), 16)))
    em = xr.DataArray(text[:6].T.reshape(16, 2, 3), dims=("embed", "y", "x"))
    early = scenicness(em, sp, text_embeddings=text).values
    late = scenicness(em, sp, method="late", min_prompts=5, text_embeddings=text).values
    assert not np.allclose(early, late)


def test_illustrative_set_and_text_encoding(tmp_path):
    assert bundled_scenic() == ["illustrative"]
    sp = load_scenic()
    assert sp.name == "illustrative" and len(sp.texts) >= 20 and set(sp.raters) == {"1"}
    assert min(sp.values) == 1 and max(sp.values) == 10
    rng = np.random.default_rng(0)
    em = xr.DataArray(l2_normalise(rng.normal(size=(512, 2, 2)), axis=0), dims=("embed", "y", "x"))
    via_model = scenicness(em, sp, clip_pretrained="none", cache_dir=tmp_path)
    given = scenicness(em, sp, text_embeddings=encode_texts(list(sp.texts), pretrained="none", cache_dir=tmp_path))
    np.testing.assert_allclose(via_model.values, given.values, rtol=1e-6)
    assert (
        via_model.attrs["text_model"] == "open_clip:ViT-B-32-quickgelu/none"
        and via_model.attrs["scenic_sha256"] == sp.sha256()
    )
    assert '{"text":"a misty mountain lake","value":9.0,"rater":"1"}' in via_model.attrs["prompts"]
    # one rater: late ensembling is early ensembling
    late = scenicness(
        em,
        sp,
        method="late",
        min_prompts=10,
        text_embeddings=encode_texts(list(sp.texts), pretrained="none", cache_dir=tmp_path),
    )
    np.testing.assert_allclose(late.values, given.values, rtol=1e-5)


def test_scenicness_stays_lazy(no_compute):
    sp = ScenicPrompts("t", ("a", "b", "c"), (1.0, 5.0, 10.0), ("x", "x", "y"))
    em = xr.DataArray(np.ones((4, 6, 6), np.float32), dims=("embed", "y", "x")).chunk({"y": 3})
    out = scenicness(em, sp, method="late", min_prompts=1, text_embeddings=np.eye(3, 4, dtype=np.float32))
    assert out.chunks is not None and out.shape == (6, 6)


@pytest.mark.parametrize(
    "doc, fragment",
    [
        ({"prompts": []}, "non-empty list 'prompts:'"),
        ({"prompts": [{"value": 3}]}, "prompt #1 needs a non-empty 'text'"),
        (
            {"prompts": [{"text": "a lake", "value": 11}]},
            r"prompt #1 \('a lake'\) 'value' must be a rating from 1 to 10",
        ),
        ({"prompts": [{"text": "a lake"}]}, "'value' must be a rating"),
        ({"prompts": [{"text": "a lake", "value": 5, "score": 3}]}, "unknown field 'score'"),
        ({"prompts": [{"text": "a lake", "value": 5}], "prompt": []}, "unknown field 'prompt'"),
    ],
)
def test_bad_scenic_files(doc, fragment):
    with pytest.raises(InputError, match=fragment):
        parse_scenic(doc)


def test_bad_csv_and_bad_options(tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("user_index,values,prompts_in_order\n1,5,a lake\n")
    with pytest.raises(InputError, match="missing column 'values_in_order'"):
        load_scenic(bad)
    bad.write_text("user_index,values_in_order,prompts_in_order\n1,twelve,a lake\n")
    with pytest.raises(InputError, match="line 2 values_in_order must be a rating"):
        read_rated_csv(bad)
    sp = load_scenic()
    em = xr.DataArray(np.ones((512, 1, 1), np.float32), dims=("embed", "y", "x"))
    text = np.eye(len(sp.texts), 512, dtype=np.float32)
    with pytest.raises(InputError, match=r"no rater of 'illustrative' has >= 23 prompts \(most: 22\)"):
        scenicness(em, sp, method="late", min_prompts=23, text_embeddings=text)
    with pytest.raises(InputError, match="method must be one of early, late"):
        scenicness(em, sp, method="mid", text_embeddings=text)
    with pytest.raises(InputError, match="3 text embeddings for 22 scenic prompts"):
        scenicness(em, sp, text_embeddings=text[:3])
