"""The example notebook runs top to bottom in a Jupyter kernel (nbclient), as a user would run it."""

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebook.ipynb"


@pytest.mark.slow
def test_example_notebook_runs_and_keeps_crs_and_class_names(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is missing: pip install -e '.[dev]'")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is missing: pip install -e '.[dev]'")
    pytest.importorskip("ipykernel", reason="ipykernel is missing: pip install -e '.[dev]'")
    monkeypatch.setenv("TSMAP_NOTEBOOK_OUT", str(tmp_path))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = "\n".join(_texts(nb))
    assert "EPSG:32632" in text and "Artificial_Land Cropland Woodland" in text  # CRS and class names survive
    assert "dashboard: http" in text and '["Artificial Land", "Cropland"' in text
    images = sum('image/png' in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 2  # the classify plot and the predict result's plot
    assert (tmp_path / "map.tif").exists() and (tmp_path / "map_quicklook.png").exists()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def _texts(nb):
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                yield out["text"]
            for key in ("text/plain", "text/html"):
                if key in out.get("data", {}):
                    yield out["data"][key]
