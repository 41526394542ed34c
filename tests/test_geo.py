import pytest

from tsmap.errors import InputError
from tsmap.geo import BBox, Grid, utm_epsg


def test_parse_bbox():
    assert BBox.parse("7.0, 50.6,7.1,50.7").as_tuple() == (7.0, 50.6, 7.1, 50.7)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("7,50,7.1", "4 comma-separated"),
        ("7,50,7.1,50.5,3", "4 comma-separated"),
        ("a,b,c,d", "4 comma-separated"),
        ("7.1,50,7.0,50.5", "inverted"),
        ("7,50.5,7.1,50", "inverted"),
        ("7,50,7,50.5", "zero area"),
        ("190,50,191,51", "longitude out of range"),
        ("7,-95,8,50", "latitude out of range"),
    ],
)
def test_bad_bbox_names_the_problem(text, fragment):
    with pytest.raises(InputError, match=fragment):
        BBox.parse(text)


def test_utm_zone():
    assert utm_epsg(7.1, 50.7) == 32632
    assert utm_epsg(-58.4, -34.6) == 32721
    assert utm_epsg(179.9, 10) == 32660


def test_grid_from_bbox_is_snapped_and_covers_the_box():
    box = BBox(7.0, 50.6, 7.05, 50.65)
    grid = Grid.from_bbox(box)
    assert grid.epsg == 32632
    assert all(v % 10 == 0 for v in grid.bounds)
    h, w = grid.shape
    assert 3_000 / 10 < w < 4_000 / 10 and 5_000 / 10 < h < 6_000 / 10
    back = grid.lonlat_bbox()
    assert back.west <= box.west and back.east >= box.east and back.south <= box.south and back.north >= box.north


def test_area():
    # one degree square at the equator is ~12,364 km²
    assert BBox(0, 0, 1, 1).area_km2() == pytest.approx(12_364, rel=0.01)
