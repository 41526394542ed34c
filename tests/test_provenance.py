"""The provenance record: built once per run, the same text in every output, and read back from any of them."""

from __future__ import annotations

import json
import shutil

import pystac
import pytest
import rasterio
from click.testing import CliRunner

from tsmap.cli import main
from tsmap.outputs import OutputPaths
from tsmap.provenance import Provenance

from .pipeline_helpers import predict_scene


@pytest.mark.parametrize("items, count", [
    ("[]", 0),  # a run that found no items
    ("", 0),  # the comma-joined form of early outputs, with no items: never one empty name
    ('["S2A_1", "S2B_2"]', 2),
    ("S2A_MSIL2A_20230105", 1),  # comma-joined, one item: one scene, not one per character
    ("S2A_1,S2B_2,S2A_3", 3),
    (["S2A_1", "S2B_2"], 2),  # as a STAC item's typed property
])
def test_the_item_count_read_back(items, count):
    assert Provenance.from_tags({"items": items}).n_items == count


@pytest.fixture(scope="module")
def run(demo_scene, tmp_path_factory):
    return predict_scene(demo_scene, tmp_path_factory.mktemp("prov") / "map.tif", scenic="illustrative")


def test_every_output_records_the_same_provenance_and_it_reads_back_unchanged(run):
    with rasterio.open(run.class_map) as f:
        tags = f.tags()
    record = Provenance.from_tags(tags)
    assert record.n_items == 24 and record.synthetic and record.encoding == "float16"
    assert record.checkpoint.startswith("random-init(seed=0") and "2023-01-01..2023-12-31" in record.query
    assert {k: tags[k] for k in record.tags()} == record.tags()  # rendering the parsed record gives the tags back
    for other in (run.score_map, run.scenic_map):
        with rasterio.open(other) as f:
            assert Provenance.from_tags(f.tags()) == record
    item = pystac.Item.from_file(OutputPaths(run.class_map).item)
    typed = {k.removeprefix("tsmap:"): v for k, v in item.properties.items() if k.startswith("tsmap:")}
    assert Provenance.from_tags(typed).items == record.items and typed["items"] == list(record.items)
    assert [link.href for link in item.links if link.rel == "derived_from"] != []


@pytest.mark.parametrize("items, shown", [("[]", "0 scenes"), ("S2A_1,S2B_2", "2 scenes"), ("S2A_1", "1 scenes")])
def test_tsmap_info_counts_the_scenes_of_any_item_list(run, tmp_path, items, shown):
    path = str(tmp_path / "map.tif")
    shutil.copy(run.class_map, path)
    with rasterio.open(path, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as f:  # an output of a run with these items
        f.update_tags(items=items)
    result = CliRunner().invoke(main, ["info", path])
    assert result.exit_code == 0, result.output
    assert f"items:       {shown}" in result.output


def test_the_record_of_a_run_is_json_where_it_holds_lists(run):
    with rasterio.open(run.class_map) as f:
        tags = f.tags()
    assert json.loads(tags["items"]) == list(Provenance.from_tags(tags).items)
    assert json.loads(tags["item_hrefs"])[0].endswith(".json")
