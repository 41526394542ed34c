"""The pipeline end to end on the synthetic scene: embed once / classify many, outputs, resumption, Dask."""

from __future__ import annotations

import inspect
import json
import os
import re

import numpy as np
import pystac
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

import tsmap
from tsmap.errors import InputError
from tsmap import pipeline
from tsmap.pipeline import classify_embeddings, embed_area
from tsmap.store import RasterStore

from .pipeline_helpers import SMALL, TILE, predict_scene, read, same_maps, scene_query


@pytest.mark.parametrize("encoding", ["float16", "int8"])
def test_rescoring_the_store_gives_exactly_the_maps_of_predict(demo_scene, tmp_path, encoding):
    full = predict_scene(demo_scene, tmp_path / "map.tif", keep_embeddings=tmp_path / "emb.zarr", encoding=encoding)
    again = classify_embeddings(
        embeddings=full.embeddings,
        prompts="land-cover",
        out=tmp_path / "re.tif",
        clip_pretrained="none",
        progress=False,
    )
    assert same_maps(full.class_map, again.class_map) and same_maps(full.score_map, again.score_map)
    classes = read(full.class_map)[0]
    assert (classes[:, :4] == 255).all() and (classes[:, 4:] < 8).all()  # nodata strip, then classes
    store = RasterStore.open(tmp_path / "emb.zarr")
    assert store.attrs["complete"] and store.group["embedding"].dtype == np.dtype(encoding)
    assert not os.path.exists(f"{tmp_path / 'emb.zarr'}.partial") and not os.path.exists(
        tmp_path / "map.tif.parts.zarr"
    )


def test_embed_then_classify_two_prompt_sets(demo_scene, tmp_path):
    emb = embed_area(
        out=tmp_path / "emb.zarr",
        query=scene_query(demo_scene),
        grid=demo_scene.grid,
        stac=demo_scene.catalog,
        encoder=SMALL,
        tile=TILE,
        progress=False,
    )
    assert emb.summary.computed == 4 and emb.grid == demo_scene.grid
    ds = tsmap.open_embeddings(emb.path)  # lazy, georeferenced
    assert ds["embedding"].shape == (512, 64, 64) and ds.rio.crs.to_epsg() == 32632
    assert ds.rio.transform() == demo_scene.grid.transform
    np.testing.assert_allclose(np.linalg.norm(ds["embedding"][:, 10, 20].values), 1.0, atol=2e-3)
    assert int(ds["valid_periods"][10, 20]) == 12 and int(ds["valid_periods"][10, 0]) == 0
    (tmp_path / "water.yaml").write_text("classes:\n  - name: water\n  - name: land\n")
    a = classify_embeddings(
        embeddings=emb.path, prompts="land-cover", out=tmp_path / "lc.tif", clip_pretrained="none", progress=False
    )
    b = classify_embeddings(
        embeddings=emb.path,
        prompts=tmp_path / "water.yaml",
        out=tmp_path / "w.tif",
        clip_pretrained="none",
        progress=False,
    )
    assert read(a.class_map).max() == 255 and set(np.unique(read(b.class_map))) <= {0, 1, 255}
    ref = predict_scene(demo_scene, tmp_path / "ref.tif")
    assert same_maps(ref.class_map, a.class_map) and same_maps(ref.score_map, a.score_map)


def test_outputs_carry_colours_provenance_and_a_stac_item(demo_scene, tmp_path):
    prompts = tmp_path / "p.yaml"
    prompts.write_text(
        "classes:\n  - name: water\n    color: '#0000ff'\n    prompts: [a lake]\n  - name: forest\n  - name: field\n"
    )
    res = predict_scene(demo_scene, tmp_path / "map.tif", prompts=str(prompts), quicklook=True)
    for path in (res.class_map, res.score_map):
        assert cog_validate(path)[0]
    with rasterio.open(res.class_map) as f:
        tags = f.tags()
        assert f.colormap(1)[0] == (0, 0, 255, 255) and f.nodata == 255 and f.descriptions == ("class",)
        assert (
            json.loads(tags["classes"]) == ["water", "forest", "field"]
            and tags["text_model"] == "open_clip:ViT-B-32-quickgelu/none"
        )
        assert json.loads(tags["prompts"])["classes"][0] == {"name": "water", "color": "#0000ff", "prompts": ["a lake"]}
        assert len(tags["prompts_sha256"]) == 64
        assert tags["checkpoint"].startswith("random-init(seed=0") and tags["complete"] == "yes"
        assert len(json.loads(tags["items"])) == 24 and "2023-01-01..2023-12-31" in tags["query"]
    with rasterio.open(res.score_map) as f:
        assert f.descriptions == ("score", "probability", "margin") and f.dtypes[0] == "float32"
        score, prob, margin = f.read()
        valid = np.isfinite(score)
        assert (prob[valid] >= 1 / 3 - 1e-6).all() and (prob[valid] <= 1).all() and (margin[valid] >= 0).all()
    item = pystac.Item.from_file(str(tmp_path / "map_item.json"))
    assert item.properties.get("proj:code", "EPSG:32632") == "EPSG:32632" and item.properties["proj:shape"] == [64, 64]
    assert os.path.exists(item.assets["class"].get_absolute_href())
    classes = item.assets["class"].extra_fields["classification:classes"]
    assert [c["title"] for c in classes] == ["water", "forest", "field", "unknown (none of these)", "no data"]
    assert item.properties["tsmap:prompts_sha256"] == tags["prompts_sha256"]
    with open(tmp_path / "map_quicklook.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_same_call_again_is_up_to_date_and_a_changed_one_is_not(demo_scene, tmp_path):
    first = predict_scene(demo_scene, tmp_path / "map.tif")
    stamp = os.stat(first.class_map).st_mtime_ns
    again = predict_scene(demo_scene, tmp_path / "map.tif")
    assert again.summary.computed == 0 and os.stat(first.class_map).st_mtime_ns == stamp
    (tmp_path / "two.yaml").write_text("classes:\n  - name: a\n  - name: b\n")
    with pytest.raises(InputError, match="output of a different tsmap run .*pass --overwrite"):
        predict_scene(demo_scene, tmp_path / "map.tif", prompts=str(tmp_path / "two.yaml"))
    assert os.stat(first.class_map).st_mtime_ns == stamp
    changed = predict_scene(demo_scene, tmp_path / "map.tif", prompts=str(tmp_path / "two.yaml"), overwrite=True)
    assert changed.summary.computed == 4 and set(np.unique(read(changed.class_map))) <= {0, 1, 255}


def test_bad_inputs_fail_before_any_work(demo_scene, tmp_path):
    with pytest.raises(InputError, match="must end in .zarr"):
        predict_scene(demo_scene, tmp_path / "map.tif", keep_embeddings=tmp_path / "emb")
    with pytest.raises(InputError, match="does not exist"):
        classify_embeddings(embeddings=tmp_path / "none.zarr", prompts="land-cover", out=tmp_path / "m.tif")
    small = tsmap.EncoderSpec(config=tsmap.EncoderConfig(dim=32, depth=1, heads=4, mlp_dim=16, out_dim=8))
    with pytest.raises(InputError, match="8-d embeddings"):
        predict_scene(demo_scene, tmp_path / "map.tif", encoder=small)
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_local_cluster_gives_the_same_files_and_loads_the_model_once_per_worker(demo_scene, tmp_path):
    from distributed import Client, LocalCluster

    (tmp_path / "here").mkdir(), (tmp_path / "cluster").mkdir()
    here = predict_scene(demo_scene, tmp_path / "here" / "map.tif", tile=16, workers=2)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        # the scheduler's address, as `--scheduler tcp://...` gives it (a Client object works the same)
        there = predict_scene(demo_scene, tmp_path / "cluster" / "map.tif", tile=16, client=cluster.scheduler_address)
        loads = client.run(lambda: __import__("tsmap.encode").encode.LOADS["count"])
    assert len(loads) == 2 and sorted(loads.values()) == [1, 1]  # 16 tiles, one model load per worker
    for a, b in zip(here.outputs, there.outputs):
        with open(a, "rb") as fa, open(b, "rb") as fb:
            assert fa.read() == fb.read(), os.path.basename(a)


def test_scenicness_in_one_pass_and_from_the_store_agree(demo_scene, tmp_path):
    from tsmap.pipeline import scenic_embeddings

    full = predict_scene(demo_scene, tmp_path / "map.tif", keep_embeddings=tmp_path / "emb.zarr", scenic="illustrative")
    assert full.scenic_map == str(tmp_path / "map_scenic.tif")
    scenic = read(full.scenic_map)[0]
    valid = np.isfinite(scenic)
    assert valid[:, 4:].all() and not valid[:, :4].any() and (scenic[valid] >= 1).all() and (scenic[valid] <= 10).all()
    again = scenic_embeddings(
        embeddings=full.embeddings, out=tmp_path / "s.tif", clip_pretrained="none", quicklook=True, progress=False
    )
    assert same_maps(full.scenic_map, again.scenic_map) and again.class_map is None
    with rasterio.open(again.scenic_map) as f:
        assert f.tags()["scenic_prompts"] == "illustrative" and f.tags()["scenic_method"] == "early"
    rated = tmp_path / "rated.yaml"  # two raters: late ensembling averages two softmaxes, early takes one
    rated.write_text("prompts:\n  - {text: a motorway, value: 1, rater: a}\n  - {text: a lake, value: 9, rater: a}\n"
                     "  - {text: a quarry, value: 2, rater: b}\n  - {text: a forest path, value: 8, rater: b}\n")
    early, late = (
        scenic_embeddings(
            embeddings=full.embeddings,
            out=tmp_path / f"{m}.tif",
            prompts=str(rated),
            method=m,
            clip_pretrained="none",
            progress=False,
        )
        for m in ("early", "late")
    )
    assert not same_maps(early.scenic_map, late.scenic_map)
    assert (tmp_path / "s_quicklook.png").exists() and (tmp_path / "s_item.json").exists()


def test_the_unknown_rule_of_the_prompt_set_reaches_the_map(demo_scene, tmp_path):
    from tsmap.zeroshot import CLASS_UNKNOWN

    (tmp_path / "u.yaml").write_text("classes:\n  - name: a\n  - name: b\nunknown:\n  min_probability: 0.99\n")
    res = predict_scene(demo_scene, tmp_path / "map.tif", prompts=str(tmp_path / "u.yaml"))
    classes, prob = read(res.class_map)[0], read(res.score_map)[1]
    assert ((classes == CLASS_UNKNOWN) == (np.isfinite(prob) & (prob < 0.99))).all() and (
        classes == CLASS_UNKNOWN
    ).any()


AREA = dict(bbox=tsmap.BBox(7.0, 50.0, 7.01, 50.01), year=2023)


@pytest.mark.parametrize("function, given, names", [
    ("predict", dict(checkpoint="model.safetensors"), "encoder and checkpoint"),
    ("predict", dict(device="cpu"), "encoder and device"),
    ("predict", dict(checkpoint="model.safetensors", device="cpu"), "encoder and checkpoint and device"),
    ("predict", dict(bbox=AREA["bbox"]), "query and bbox"),
    ("predict", dict(year=2023), "query and year"),
    ("embed_area", dict(device="cpu"), "encoder and device"),
    ("embed_area", AREA, "query and bbox and year"),
    ("plan_area", dict(checkpoint="model.safetensors"), "encoder and checkpoint"),
    ("plan_area", dict(year=2023), "query and year"),
])
def test_conflicting_arguments_are_refused_naming_both(demo_scene, tmp_path, function, given, names):
    """An argument the other one would silently override is an error on one line, before any work or file."""
    args = dict(query=scene_query(demo_scene), grid=demo_scene.grid, stac=demo_scene.catalog, encoder=SMALL)
    if function != "plan_area":
        args.update(out=str(tmp_path / ("emb.zarr" if function == "embed_area" else "map.tif")), progress=False)
    if function == "predict":
        args.update(prompts="land-cover", clip_pretrained="none")
    with pytest.raises(InputError) as exc:
        getattr(pipeline, function)(**args, **given)
    message = str(exc.value)
    assert f"{names} were both given" in message and "drop " in message and "\n" not in message
    assert os.listdir(tmp_path) == []


def test_open_source_refuses_a_query_with_a_year(demo_scene):
    with pytest.raises(InputError, match=r"query and year were both given.*Query.for_year\(bbox, year\)"):
        pipeline.open_source(query=scene_query(demo_scene), year=2023, stac=demo_scene.catalog, encoder=SMALL)


@pytest.mark.parametrize(
    "function", ["predict", "embed_area", "classify_embeddings", "scenic_embeddings", "open_source", "plan_area"]
)
def test_every_parameter_of_the_public_functions_is_documented(function):
    """Each parameter has an entry in the docstring's Parameters list (numpydoc: its name alone on a line)."""
    f = getattr(pipeline, function)
    entries = re.findall(r"^    ([a-z_]+(?:, [a-z_]+)*)$", f.__doc__.split("Parameters\n    ----------\n")[1], re.M)
    documented = {name for entry in entries for name in entry.split(", ")}
    assert [p for p in inspect.signature(f).parameters if p not in documented] == []
