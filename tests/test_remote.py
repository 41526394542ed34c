"""Remote reads as users run them: a real STAC API (stac-fastapi-geoparquet, its own venv) and COGs behind a
loopback server with latency, faults and counters. Items are clones of a real Earth Search item (tests/data)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tsmap.geo import BBox, Grid
from tsmap.retry import RetryPolicy
from tsmap.catalog import Query, search

from .http_faults import max_in_flight
from .pipeline_helpers import SMALL, same_maps
from .remote_servers import CogServer, StacApi, stac_api_missing
from .s2_archive import EPSG, ORIGIN, Layout, make_archive, minimum_bytes

LAYOUT = Layout(size_10m=1024, blocksize=256)  # the services' layout, scaled down: 4 x 4 blocks at 10 m
AOI_PX = (256, 256, 128, 128)  # row, col, height, width (10 m px): one 10 m block, a quarter of a 20 m one
N_ACQ = 23  # more than two pages of the API's default page size (10), not a multiple of it
YEAR = 2023


def aoi_grid(px=AOI_PX) -> Grid:
    r, c, h, w = px
    x0, y1 = ORIGIN[0] + c * 10, ORIGIN[1] - r * 10
    return Grid(EPSG, (x0, y1 - h * 10, x0 + w * 10, y1))


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return make_archive(
        tmp_path_factory.mktemp("s2"), acquisitions=N_ACQ, year=YEAR, layout=LAYOUT, content=AOI_PX, variants=3
    )


@pytest.fixture(scope="module")
def cogs(archive, tmp_path_factory):
    with CogServer(archive.root, tmp_path_factory.mktemp("cog-server"), latency_s=0.02) as srv:
        yield srv


@pytest.fixture(scope="module")
def api(archive, cogs, tmp_path_factory):
    if why := stac_api_missing():
        pytest.skip(why)
    with StacApi(archive.with_base(cogs.url), tmp_path_factory.mktemp("stac-api")) as srv:
        yield srv


def query(**kw) -> Query:
    return Query.for_year(aoi_grid().lonlat_bbox(), YEAR, **kw)


def test_search_pages_through_the_api_and_filters_cloud_cover_on_the_server(archive, api):
    import pystac_client

    items = search(query(), stac=api.url)
    assert [it.id for it in items] == [it["id"] for it in archive.items]  # all 23: three pages, in time order
    clear = search(query(max_cloud=30), stac=api.url)
    expected = [it["id"] for it in archive.items if it["properties"]["eo:cloud_cover"] <= 30]
    assert [it.id for it in clear] == expected and 0 < len(expected) < N_ACQ

    client = pystac_client.Client.open(api.url)  # what tsmap relies on, asked of the server itself
    assert not client.conforms_to("QUERY") and client.conforms_to("FILTER")
    by_server = client.search(
        collections=["sentinel-2-l2a"],
        limit=10,
        sortby="-datetime",
        filter={"op": "<=", "args": [{"property": "eo:cloud_cover"}, 30]},
        filter_lang="cql2-json",
    )
    assert [it.id for it in by_server.items()] == expected[::-1]


def test_page_boundary_and_intersects(archive, api):
    import pystac_client

    client = pystac_client.Client.open(api.url)
    pages = list(client.search(collections=["sentinel-2-l2a"], limit=N_ACQ - 3).pages())
    assert [len(p.items) for p in pages] == [N_ACQ - 3, 3]
    exact = list(client.search(collections=["sentinel-2-l2a"], limit=N_ACQ).pages())
    assert sum(len(p.items) for p in exact) == N_ACQ  # a full last page, then nothing more
    centre = aoi_grid().lonlat_bbox().centre
    inside = client.search(collections=["sentinel-2-l2a"], intersects={"type": "Point", "coordinates": list(centre)})
    assert len(list(inside.items())) == N_ACQ
    far = client.search(collections=["sentinel-2-l2a"], intersects={"type": "Point", "coordinates": [10.0, 50.0]})
    assert list(far.items()) == []
    with pytest.raises(Exception, match="no Sentinel-2 items"):
        search(Query.for_year(BBox(10.0, 50.0, 10.1, 50.1), YEAR), stac=api.url)


@pytest.mark.slow
def test_predict_cli_against_the_api_equals_local_files(archive, api, tmp_path):
    from tsmap.cli import main

    box = aoi_grid((256, 256, 32, 32)).lonlat_bbox()
    local = archive.write_collection(tmp_path / "local.geojson", str(archive.root))
    outs = {}
    for name, stac in (("remote", api.url), ("local", str(local))):
        outs[name] = tmp_path / f"{name}.tif"
        res = CliRunner().invoke(
            main,
            [
                "predict",
                "--bbox",
                f"{box.west},{box.south},{box.east},{box.north}",
                "--year",
                str(YEAR),
                "--max-cloud",
                "60",
                "--prompts",
                "land-cover",
                "--out",
                str(outs[name]),
                "--stac",
                stac,
                "--clip-pretrained",
                "none",
                "--tile",
                "32",
                "--workers",
                "1",
                "--quiet",
                "--epsg",
                str(EPSG),
            ],
        )
        assert res.exit_code == 0, res.output
    assert same_maps(outs["remote"], outs["local"]) and same_maps(
        tmp_path / "remote_score.tif", tmp_path / "local_score.tif"
    )


def test_reads_are_concurrent_and_fetch_each_block_once(archive, cogs, tmp_path):
    from tsmap.pipeline import predict

    grid = aoi_grid()
    cogs.reset()
    result = predict(
        prompts="land-cover",
        out=str(tmp_path / "map.tif"),
        query=query(),
        grid=grid,
        encoder=SMALL,
        stac=str(archive.write_collection(tmp_path / "items.geojson", cogs.url, "?fresh=1")),
        clip_pretrained="none",
        tile=32,
        workers=1,
        progress=False,
    )
    assert result.summary.computed == 16
    requests, sent = cogs.counters()
    minimum = minimum_bytes(archive, grid.bounds)
    print(f"requests {sum(requests.values())}, bytes {sum(sent.values())} vs minimum {sum(minimum.values())}")
    assert set(sent) == set(minimum)  # every asset of every acquisition, nothing else
    assert sum(sent.values()) <= 1.3 * sum(minimum.values())  # 16 tiles share each block: fetched once
    assert max_in_flight(cogs.log) >= 8  # one tile's assets are read concurrently, not one by one


@pytest.mark.slow
def test_stalled_request_and_503_burst_through_the_api(archive, api, cogs, tmp_path):  # api: skips without the server
    from tsmap.pipeline import predict

    grid = aoi_grid((256, 256, 64, 64))
    common = dict(prompts="land-cover", query=query(max_cloud=40), grid=grid, encoder=SMALL, clip_pretrained="none",
                  tile=32, progress=False)
    reference = predict(
        out=str(tmp_path / "ref.tif"),
        stac=str(archive.write_collection(tmp_path / "l.geojson", str(archive.root))),
        **common,
    )
    cogs.reset()
    cogs.set([{"match": "B04.tif", "fault": "503", "times": 6}, {"match": "SCL.tif", "fault": "stall", "times": 1}])
    retry = RetryPolicy(attempts=4, backoff_s=0.2, timeout_s=1, http_retries=0)
    try:  # URLs of their own: nothing of them is in GDAL's cache from the other tests
        with StacApi(archive.with_base(cogs.url, "?faults=1"), tmp_path / "api") as faulty:
            result = predict(out=str(tmp_path / "map.tif"), stac=faulty.url, retry=retry, **common)
    finally:
        cogs.set([])
    assert sorted(set(cogs.faults_served())) == ["503", "stall"] and cogs.faults_served().count("503") == 6
    assert same_maps(result.class_map, reference.class_map) and same_maps(result.score_map, reference.score_map)


def test_archive_is_laid_out_like_the_services(tmp_path):
    """The generator's files: full-size grids by default; here the scaled layout's blocks, DEFLATE, overviews, DN."""
    import rasterio

    assert Layout().size(10) == 10980 and Layout().size(20) == 5490 and Layout().blocksize == 1024
    arch = make_archive(tmp_path, acquisitions=2, layout=LAYOUT, content=AOI_PX, variants=1)
    href = arch.root / arch.items[0]["assets"]["red"]["href"]
    with rasterio.open(href) as f:
        assert f.shape == (1024, 1024) and f.block_shapes[0] == (256, 256) and f.compression.name == "deflate"
        assert f.overviews(1) and f.nodata == 0
        r, c, h, w = AOI_PX
        dn = f.read(1, window=((r, r + h), (c, c + w)))
    assert 1000 < np.median(dn) < 4000  # baseline >= 04.00: reflectance x 10000 + 1000
    assert arch.items[0]["assets"]["red"]["raster:bands"][0]["offset"] == -0.1
    assert dt.datetime.fromisoformat(arch.items[1]["properties"]["datetime"]) > dt.datetime.fromisoformat(
        arch.items[0]["properties"]["datetime"]
    )
    assert Path(href).is_symlink()
