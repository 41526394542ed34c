"""Results in a notebook: open a run's COGs as one lazy xarray Dataset, plot maps with their legend.

:func:`open_map` reads every COG a run wrote (class map, confidence layers, scenicness) as lazy
dask-backed variables on one grid, with the CRS (``spatial_ref``), the class legend
(``flag_values``/``flag_meanings``/``flag_colors``/``class_names``, from the file's tags and colour
table) and the run's provenance in ``attrs``. :func:`plot_map` draws a layer as the quicklooks do.
"""

from __future__ import annotations

import html
import json
import os

import numpy as np

from .legend import Legend
from .outputs import typed_value
from .quicklook import draw

#: Run provenance copied from the class COG's tags into ``Dataset.attrs``.
RUN_ATTRS = ("prompts_name", "text_model", "checkpoint", "query", "stac", "complete", "missing_tiles", "synthetic",
             "tsmap_version", "scenic_prompts", "scenic_method")


def open_map(paths: dict[str, str] | list[str], *, chunks: dict | None = None):
    """The layers of the COGs at ``paths`` as one lazy ``xarray.Dataset`` (variables named by band)."""
    import rioxarray
    import xarray as xr

    files = list(paths.values()) if isinstance(paths, dict) else list(paths)
    layers, attrs = {}, {}
    for path in files:
        da = rioxarray.open_rasterio(path, chunks=chunks or {"band": 1, "y": 2048, "x": 2048}, mask_and_scale=False)
        names = [
            str(n) for n in np.atleast_1d(da.attrs.get("long_name", [f"band_{i + 1}" for i in range(da.sizes["band"])]))
        ]
        tags = _tags(path)
        attrs.update({k: typed_value(tags[k]) for k in RUN_ATTRS if k in tags})
        for i, name in enumerate(names):
            layer = da.isel(band=i, drop=True).rename(name)
            layer.attrs = _layer_attrs(name, path, tags, da.attrs)
            layers[name] = layer
    ds = xr.Dataset(layers)
    ds.attrs.update(attrs)
    return ds


def plot_map(data, layer: str | None = None, *, ax=None, title: str | None = None):
    """Draw a class map with its legend colours (or scenicness on 1-10, or any layer) and return the axes.

    ``data`` is a Dataset from :func:`open_map` / :func:`tsmap.classify` (``layer`` picks the variable,
    default ``class`` or the first one) or a DataArray.
    """
    import matplotlib.pyplot as plt

    da = data if not hasattr(data, "data_vars") else data[layer or _default_layer(data)]
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 6))
    legend = Legend.from_attrs(da.attrs)
    nodata = da.attrs.get("_FillValue", da.encoding.get("_FillValue"))
    if title is None:
        crs = da.rio.crs if hasattr(da, "rio") and da.rio.crs else None
        what = (getattr(data, "attrs", {}).get("prompts_name"), da.name, f"EPSG:{crs.to_epsg()}" if crs else None)
        title = " | ".join(str(x) for x in what if x)
    draw(ax, np.asarray(da.values), legend=legend, nodata=nodata, scenic=da.name in ("scenic", "scenicness"),
         title=title, label=str(da.attrs.get("long_name", "")))
    return ax


def result_html(title: str, rows: list[tuple[str, str]]) -> str:
    """A small HTML table (notebook ``_repr_html_``) of ``rows`` under ``title``."""
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th><td "
        f"style='text-align:left'>{html.escape(str(v))}</td></tr>"
        for k, v in rows
    )
    return f"<div><strong>{html.escape(title)}</strong><table>{body}</table></div>"


def _default_layer(ds) -> str:
    return "class" if "class" in ds.data_vars else next(iter(ds.data_vars))


def _tags(path: str) -> dict:
    import rasterio

    with rasterio.open(path) as src:
        tags = src.tags()
        if src.count == 1 and src.dtypes[0] == "uint8":
            try:
                tags["_colormap"] = src.colormap(1)
            except ValueError:  # no colour table
                pass
    return tags


def _layer_attrs(name: str, path: str, tags: dict, raster_attrs: dict) -> dict:
    attrs = {"source": os.path.basename(path), "_FillValue": raster_attrs.get("_FillValue")}
    if name == "class" and "classes" in tags:
        names = json.loads(tags["classes"])
        cmap = tags.get("_colormap") or {}
        colors = tuple(cmap[i][:3] for i in range(len(names))) if all(i in cmap for i in range(len(names))) else ()
        attrs.update(Legend(tuple(names), colors).attrs())
    elif name == "scenic":
        attrs.update(long_name="scenicness", units="1-10 rating", valid_range=[1.0, 10.0])
    else:
        attrs["long_name"] = name
    return {k: v for k, v in attrs.items() if v is not None}

