import subprocess
import sys

import numpy as np
import pytest

from tsmap.errors import InputError
from tsmap.specs import AUTHORS, SEN4MAP_LO, CompositeSpec, Preprocessing, authors_spec


def test_specs_are_plain_data_without_the_data_layer():
    def heavy(module: str, names: tuple[str, ...]) -> str:
        code = f"import sys, {module}; print(sorted(m for m in {names!r} if m in sys.modules))"
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()

    assert heavy("tsmap.specs", ("xarray", "dask", "rasterio", "torch")) == "[]"
    assert heavy("tsmap_train.config", ("xarray", "dask", "rasterio")) == "[]"  # the trainer's config needs torch only


def test_normalisation_rule():
    x = np.array([SEN4MAP_LO], np.float32)
    np.testing.assert_allclose(AUTHORS.normalise(x), 0.0, atol=1e-6)
    y = AUTHORS.normalise(np.full((1, 10), 1089.0, np.float32))
    assert y[0, 0] == np.float32((1089.0 - 67.0) / (2089.0 + 1e-6))  # divided by hi, not hi - lo
    assert AUTHORS.normalise(np.full((1, 10), 1e6, np.float32)).max() == 1.0
    assert np.isnan(AUTHORS.normalise(np.full((1, 10), np.nan, np.float32))).all()


def test_band_axis_for_patches():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 5000, (2, 12, 10, 3, 3)).astype(np.float32)
    got = AUTHORS.normalise(x, band_axis=2)
    want = np.moveaxis(AUTHORS.normalise(np.moveaxis(x, 2, -1)), -1, 2)
    np.testing.assert_array_equal(got, want)


def test_round_trip_and_temporal_mode():
    spec = authors_spec(patch=5, periods=4)
    assert spec.temporal == "quarterly" and spec.patch == 5 and spec.composite.rule == "authors"
    assert Preprocessing.from_dict(spec.to_dict()) == spec
    clean = Preprocessing(composite=CompositeSpec(rule="clean", periods=1), harmonise_offset=False)
    assert Preprocessing.from_dict(clean.to_dict()) == clean and clean.temporal == "annual"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(patch=4), "odd integer"),
        (dict(patch=0), "odd integer"),
        (dict(lo=(0.0,) * 9), "one value per band"),
        (dict(hi=(0.0,) * 10), "hi finite and > 0"),
        (dict(bands=("B04",) + AUTHORS.bands[1:]), "not supported"),
    ],
)
def test_validation(kwargs, message):
    with pytest.raises(InputError, match=message):
        Preprocessing(**kwargs)


def test_unknown_fields_are_errors():
    with pytest.raises(InputError, match=r"unknown preprocessing fields \['gamma'\]"):
        Preprocessing.from_dict(AUTHORS.to_dict() | {"gamma": 2})
    with pytest.raises(InputError, match="invalid composite spec"):
        Preprocessing.from_dict(AUTHORS.to_dict() | {"composite": {"rule": "authors", "blur": 1}})
