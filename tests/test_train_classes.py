"""LUCAS label tasks: class order and code/name/index lookup."""

import pytest

from tsmap.errors import InputError
from tsmap_train.classes import BIOREGION, COUNTRY, CROPS, EUNIS, LAND_COVER, LAND_USE, MISSING, TASKS, get_task


def test_sizes_follow_the_authors_lists():
    assert [len(t.classes) for t in TASKS.values()] == [8, 16, 40, 44, 12, 28]
    assert (
        LAND_COVER.classes[1] == "Cropland"
        and CROPS.classes[5] == "Maize"
        and EUNIS.classes[0] == "Arable land and market gardens"
    )


@pytest.mark.parametrize(
    "task, value, index",
    [
        (LAND_COVER, "B55", 1),
        (LAND_COVER, "C21", 2),
        (LAND_COVER, "Bare Land", 5),
        (LAND_COVER, "H", 7),
        (LAND_USE, "U111", 0),
        (LAND_USE, "U225", 6),
        (LAND_USE, "U415", 14),
        (LAND_USE, "Residential", 13),
        (CROPS, "B16", 5),
        (CROPS, "B84", 39),
        (CROPS, "Sunflower", 12),
        (CROPS, "C10", MISSING),
        (CROPS, "NA", MISSING),
        (EUNIS, "E2", 2),
        (EUNIS, "mesic grasslands", 2),
        (EUNIS, "Coastal shingle", 43),
        (BIOREGION, "Black Sea", 4),
        (BIOREGION, "BlackSea", 4),
        (BIOREGION, 6, 6),
        (BIOREGION, "8", 8),
        (BIOREGION, 12, MISSING),
        (COUNTRY, "EL", 8),
        (COUNTRY, "United Kingdom", 27),
        (COUNTRY, b"DE", 5),
        (COUNTRY, None, MISSING),
        (COUNTRY, "", MISSING),
    ],
)
def test_index(task, value, index):
    assert task.index(value) == index


def test_get_task():
    assert get_task("crop") is CROPS
    with pytest.raises(InputError, match="unknown task"):
        get_task("crops")
