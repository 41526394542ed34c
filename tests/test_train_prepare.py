"""`prepare` on tiny files in exactly the Sen4Map HDF5 and LUCAS embedding formats."""

import datetime as dt

import numpy as np
import pytest

from tsmap.specs import CompositeSpec
from tsmap.errors import InputError
from tsmap_train.classes import CROPS, LAND_COVER
from tsmap_train.prepare import prepare
from tsmap_train.store import read_store
from tsmap_train.testing import point_series, write_embedding_file, write_sen4map

SIZE = 8
DATES = [dt.date(2018, m, d) for m in (1, 2, 4, 5, 6, 7, 8, 10, 12) for d in (3, 18)]  # no March, Sept, Nov


def _reference_composite(dn, scl, dates):
    """The authors' monthly rule written out in numpy: zeros where SCL >= 9 take part in the median
    (torch.median's: the lower middle value), an empty month takes the median of the whole year, then +1."""
    vals = np.where(scl[:, None] >= 9, 0, dn).astype(np.float64)
    months = np.array([d.month for d in dates])
    out = np.empty((12,) + dn.shape[1:])

    def lower_median(a):
        return np.sort(a, axis=0)[(len(a) - 1) // 2]

    for m in range(12):
        sel = months == m + 1
        out[m] = lower_median(vals[sel]) if sel.any() else lower_median(vals)
    return out + 1


def _point(pid, cls, lc1, rng, *, cloudy=(), attrs=None):
    dn = point_series(cls, DATES, size=SIZE, rng=rng)
    scl = np.full((len(DATES), SIZE, SIZE), 4, np.uint8)
    for t in cloudy:
        scl[t, : SIZE // 2] = 9
    base = {"lc1": lc1, "lu1": "U111", "nuts0": "DE", "Coordinates": np.array([7.0 + len(pid) / 100, 50.5])}
    return {"id": pid, "dn": dn, "scl": scl, "dates": DATES, "attrs": {**base, **(attrs or {})}}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sen4map")
    rng = np.random.default_rng(1)
    points = [
        _point("40683280", "Cropland", "B16", rng, cloudy=(0, 5)),  # maize, clouds on two dates
        _point("40683281", "Woodland", "C10", rng, attrs={"nuts0": "FR", "lu1": "U120"}),
        _point("40683282", "Grassland", "E20", rng),  # no photos at all -> reported, dropped
        _point("40683283", "Water", "G10", rng),  # three of four photos -> kept, N masked
        _point("45061526", "Bare Land", "F10", rng),  # on the authors' exclusion list
    ]
    empty = {"id": "40683284", "dn": np.zeros((0, 10, SIZE, SIZE)), "scl": np.zeros((0, SIZE, SIZE)), "dates": [],
             "attrs": {"lc1": "A10", "nuts0": "DE"}}
    h5a = write_sen4map(str(tmp / "a.h5"), points[:3])
    h5b = write_sen4map(str(tmp / "b.h5"), points[3:] + [empty])
    emb_rng = np.random.default_rng(2)
    entries = {}
    for pid, nuts0 in [("40683280", "DE"), ("40683281", "FR"), ("40683283", "DE"), ("45061526", "DE"),
                       ("40683284", "DE"), ("99999999", "DE")]:
        for d in "WENS":
            if not (pid == "40683283" and d == "N"):
                entries[f"{nuts0}_{pid}{d}"] = emb_rng.normal(size=32)
    emb = write_embedding_file(str(tmp / "lucas_emb.pt"), entries)
    return {"h5": [h5a, h5b], "emb": emb, "points": points, "entries": entries, "tmp": tmp}


def test_store_matches_the_inputs(files):
    out = files["tmp"] / "store.zarr"
    report = prepare(files["h5"], out=str(out), embeddings=files["emb"], patch=3, split_fractions=(1.0, 0.0, 0.0))
    s = read_store(str(out))
    assert list(s.point_id) == ["40683280", "40683281", "40683283"]
    assert s.s2.shape == (3, 12, 10, 3, 3) and s.ground.shape == (3, 4, 32)
    a = SIZE // 2 - 1
    for i, p in enumerate([files["points"][0], files["points"][1], files["points"][3]]):
        ref = _reference_composite(p["dn"][..., a : a + 3, a : a + 3], p["scl"][..., a : a + 3, a : a + 3], DATES)
        np.testing.assert_allclose(s.s2[i], ref, rtol=0, atol=1e-3)
        for v, d in enumerate("WENS"):
            key = f"{p['attrs']['nuts0']}_{p['id']}{d}"
            if key in files["entries"]:
                np.testing.assert_array_equal(s.ground[i, v], files["entries"][key].astype(np.float32))
    assert s.ground_valid.tolist() == [[True] * 4, [True] * 4, [True, True, False, True]]
    assert s.labels["lc"].tolist() == [LAND_COVER.index("B"), LAND_COVER.index("C"), LAND_COVER.index("G")] == [1, 2, 6]
    assert s.labels["crop"].tolist() == [CROPS.classes.index("Maize"), -1, -1]
    assert s.labels["lu"].tolist() == [0, 1, 0]
    assert s.labels["country"].tolist() == [5, 11, 5]  # DE, FR, DE
    assert (s.labels["eunis"] == -1).all()
    np.testing.assert_allclose(s.lat, 50.5)
    assert set(s.split) == {"train"} and report.splits == {"train": 3, "val": 0, "test": 0}
    assert s.attrs["composite"]["rule"] == "authors" and s.attrs["patch"] == 3

    reasons = {d["point_id"]: d["reason"] for d in report.dropped}
    assert reasons == {"40683282": "no ground photos", "45061526": "excluded by the authors' list",
                       "40683284": "no pixels: no acquisitions"}
    assert report.partial_views == [{"point_id": "40683283", "missing": "N"}]
    assert report.embeddings_without_point == 1  # 99999999
    assert report.n_seen == 6 and report.n_points == 3
    text = report.summary()
    assert "dropped 1 (no ground photos): 40683282" in text and "40683283[-N]" in text
    assert s.attrs["report"]["dropped"] == report.dropped


def test_label_table_and_split_file(files):
    tmp = files["tmp"]
    labels = tmp / "labels.csv"
    labels.write_text(
        "im_id,lat,lon,lc_label,lu_label,crop_label,nuts_label,bioregion_class,eunis_class\n"
        "Lucas_Point_40683280,6.27,52.57,Cropland,Agriculture,Sunflower,Netherlands,Atlantic,Arable land and market "
        "gardens\n"
        "Lucas_Point_40683281,18.1,45.48,Woodland,Forestry,NA,Croatia,Continental,Broadleaved deciduous woodland\n"
    )
    split = tmp / "split.csv"
    split.write_text("point_id,split\nLucas_Point_40683280,test\n40683281,val\n")
    out = tmp / "store2.zarr"
    report = prepare(files["h5"], out=str(out), embeddings=files["emb"], labels_csv=str(labels), split_csv=str(split),
                     composite=CompositeSpec(rule="clean"))
    s = read_store(str(out))
    assert list(s.point_id) == ["40683280", "40683281"] and list(s.split) == ["test", "val"]
    assert s.labels["crop"].tolist() == [12, -1]  # the table's Sunflower overrides the HDF5 code B16; NA stays missing
    assert s.labels["bioregion"].tolist() == [3, 6] and s.labels["eunis"].tolist() == [0, 3]
    assert s.labels["country"].tolist() == [20, 12]  # Netherlands, Croatia
    np.testing.assert_allclose(s.lon, [6.27, 18.1])  # the table's swapped 'lat' column holds longitude
    np.testing.assert_allclose(s.lat, [52.57, 45.48])
    assert {d["point_id"]: d["reason"] for d in report.dropped}["40683283"] == "not in the split file"
    # the clean rule: months without an acquisition stay missing (NaN), cloudy pixels are left out
    assert np.isnan(s.s2[:, [2, 8, 10]]).all() and np.isfinite(s.s2[:, [0, 1, 3]]).all()
    assert s.attrs["composite"]["rule"] == "clean"


def test_precomposited_image_layout(tmp_path):
    image = np.random.default_rng(0).uniform(100, 3000, (12, 10, 9, 9)).astype(np.float32)
    h5 = write_sen4map(
        str(tmp_path / "derived.h5"),
        [{"id": "11112222", "image": image, "attrs": {"lc1": "E10", "EUNIS_L2": "E2", "bioregion_class_code": 3}}],
    )
    emb = write_embedding_file(str(tmp_path / "e.pt"), {f"AT_11112222{d}": np.ones(8) for d in "WENS"})
    prepare([h5], out=str(tmp_path / "s.zarr"), embeddings=emb, patch=1)
    s = read_store(str(tmp_path / "s.zarr"))
    np.testing.assert_array_equal(s.s2[0, :, :, 0, 0], image[:, :, 4, 4])
    assert s.labels["eunis"][0] == 2 and s.labels["bioregion"][0] == 3 and s.labels["lc"][0] == 4


def test_bad_inputs(files, tmp_path):
    with pytest.raises(InputError, match="exactly one ground source"):
        prepare(files["h5"], out=str(tmp_path / "x.zarr"))
    with pytest.raises(InputError, match="does not exist"):
        prepare([str(tmp_path / "none.h5")], out=str(tmp_path / "x.zarr"), embeddings=files["emb"])
    bad = tmp_path / "bad.pt"
    write_embedding_file(str(bad), {"not-a-key": np.ones(4)})
    with pytest.raises(Exception, match="is not '\\{NUTS0\\}_\\{POINT_ID\\}"):
        prepare(files["h5"], out=str(tmp_path / "x.zarr"), embeddings=str(bad))
    assert not (tmp_path / "x.zarr").exists()


def test_photos_instead_of_embeddings(files, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(5)
    for pid, nuts0 in [("40683280", "DE"), ("40683281", "FR")]:
        folder = tmp_path / "photos" / nuts0 / pid[:3] / pid[3:6]
        folder.mkdir(parents=True)
        for d in ("W", "E") if pid.endswith("0") else ("N",):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"{pid}{d}.jpg")
    report = prepare(files["h5"], out=str(tmp_path / "p.zarr"), photos=str(tmp_path / "photos"), clip_pretrained="none")
    s = read_store(str(tmp_path / "p.zarr"))
    assert list(s.point_id) == ["40683280", "40683281"] and s.ground.shape == (2, 4, 512)
    assert s.ground_valid.tolist() == [[True, True, False, False], [False, False, True, False]]
    assert np.abs(s.ground[0, 0]).sum() > 0 and "photos:photos:ViT-B-32-quickgelu/none" == s.attrs["ground_source"]
    assert {d["point_id"] for d in report.dropped} >= {"40683282", "40683283"}  # no photos for these
