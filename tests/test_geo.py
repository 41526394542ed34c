import pytest

from tsmap.errors import InputError
from tsmap.geo import BBox, Grid, check_resolution, utm_epsg


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


def test_area_limit_is_configurable_and_force_overrides():
    from tsmap.geo import check_area

    box = BBox(7.0, 50.0, 8.0, 51.0)  # ~7,800 km²
    check_area(box)
    with pytest.raises(InputError, match=r"AOI is 7,8\d\d km², above the 1,000 km² limit; pass --force"):
        check_area(box, max_km2=1_000)
    check_area(box, max_km2=1_000, force=True)


def test_bad_epsg_and_polar_zones():
    with pytest.raises(InputError, match="EPSG:999999 is not a known CRS"):
        Grid.from_bbox(BBox(7, 50, 7.1, 50.1), epsg=999999)
    assert utm_epsg(10, 85) == 32661 and utm_epsg(10, -85) == 32761


def test_buffered_grid_grows_by_whole_pixels():
    grid = Grid(32632, (1000.0, 2000.0, 1640.0, 2320.0))
    big = grid.buffered(4)
    assert big.shape == (grid.shape[0] + 8, grid.shape[1] + 8)
    assert big.bounds == (960.0, 1960.0, 1680.0, 2360.0) and big.epsg == grid.epsg


def test_grid_for_an_aoi_across_zones_uses_the_centre_zone():
    grid = Grid.from_bbox(BBox(5.9, 50.0, 6.3, 50.1))  # centre 6.1°E: zone 32
    assert grid.epsg == 32632
    assert Grid.from_bbox(BBox(5.9, 50.0, 6.3, 50.1), epsg=32631).epsg == 32631


def test_boxes_across_the_antimeridian():
    """W > E is a box across 180° (the GeoJSON/STAC rule): parts, centre, width, area and its grid."""
    from rasterio.warp import transform_bounds

    box = BBox.parse("179.5,-17.5,-179.5,-17.0")  # Fiji
    assert box.crosses_antimeridian and box.width == pytest.approx(1.0)
    assert [p.as_tuple() for p in box.parts()] == [(179.5, -17.5, 180.0, -17.0), (-180.0, -17.5, -179.5, -17.0)]
    lon, lat = box.centre
    assert abs(lon) == pytest.approx(180.0) and lat == pytest.approx(-17.25)
    assert box.area_km2() == pytest.approx(sum(p.area_km2() for p in box.parts()))
    assert box.area_km2() == pytest.approx(BBox(10.0, -17.5, 11.0, -17.0).area_km2())
    grid = Grid.from_bbox(box)
    assert grid.epsg in (32701, 32760)
    w, _, e, _ = transform_bounds(f"EPSG:{grid.epsg}", "EPSG:4326", *grid.bounds)
    assert w > e and w <= 179.5 and e >= -179.5  # one grid across 180°, snapped outwards
    assert grid.shape[1] == pytest.approx(1.0 * 111_320 * 0.955 / 10, rel=0.03)  # ~106 km wide, not the globe
    assert grid.lonlat_bbox().crosses_antimeridian


def test_the_whole_globe_and_a_grid_around_a_pole():
    assert BBox(-180, -10, 180, 10).width == 360 and not BBox(-180, -10, 180, 10).crosses_antimeridian
    pole = Grid(32661, (1_900_000.0, 1_900_000.0, 2_100_000.0, 2_100_000.0)).lonlat_bbox()  # UPS North
    assert (pole.west, pole.east, pole.north) == (-180.0, 180.0, 90.0)


@pytest.mark.parametrize("text", ["10,50,5,51", "1,50,-1,51"])
def test_swapped_w_and_e_is_not_read_as_a_box_around_the_globe(text):
    fragment = r"inverted: W > E means crossing the antimeridian \(180°\), but this box would span 35[58]°"
    with pytest.raises(InputError, match=fragment):
        BBox.parse(text)


def test_lonlat_parts_and_intersection_of_stac_bboxes():
    from tsmap.geo import intersects, lonlat_parts

    three_d = [170.0, 50.0, -12.0, -170.0, 51.0, 3000.0]  # W, S, zmin, E, N, zmax, across 180°
    assert lonlat_parts(three_d) == [(170.0, 50.0, 180.0, 51.0), (-180.0, 50.0, -170.0, 51.0)]
    assert lonlat_parts([7.0, 50.0, 0.0, 8.0, 51.0, 0.0]) == [(7.0, 50.0, 8.0, 51.0)]
    assert lonlat_parts([179.0, 50.0, 181.0, 51.0]) == [(179.0, 50.0, 180.0, 51.0), (-180.0, 50.0, -179.0, 51.0)]
    crossing = [179.0, 50.0, -179.0, 51.0]
    assert intersects(crossing, BBox(-179.5, 50.5, -179.2, 50.6))
    assert intersects(crossing, BBox(179.2, 50.5, 179.5, 50.6))
    assert not intersects(crossing, BBox(0.0, 50.5, 1.0, 50.6))
    assert intersects([7.0, 50.0, -5.0, 8.0, 51.0, 90.0], (7.5, 50.5, 9.0, 52.0))
    assert intersects(BBox(179.9, 50.5, -179.9, 50.6), BBox(179.95, 50.5, -179.95, 50.6))


def test_a_geographic_crs_needs_a_resolution_in_degrees():
    box = BBox(7.0, 50.0, 7.003, 50.002)
    for epsg in (4326, 4269):
        with pytest.raises(InputError, match=f"EPSG:{epsg} is a geographic CRS .* give a resolution in degrees"):
            Grid.from_bbox(box, epsg=epsg)
    with pytest.raises(InputError, match="is in degrees"):
        Grid.from_bbox(box, epsg=4326, resolution=10)
    grid = Grid.from_bbox(box, epsg=4326, resolution=0.0001)
    assert grid.shape == (20, 30) and grid.resolution == 0.0001
    with pytest.raises(InputError, match="is in metres"):
        Grid.from_bbox(box, epsg=32632, resolution=0.0001)
    assert check_resolution(32632, None) == 10.0 and check_resolution(32632, 20) == 20.0
    with pytest.raises(InputError, match="positive number"):
        check_resolution(32632, float("nan"))
