"""Pictures of maps: quicklook PNGs of COGs, and the drawing that ``MapResult.plot()`` shares.

A class map is drawn in its legend's colours with a legend of the classes present, "unknown (none
of these)" (254) in dark grey and "no data" (255) in light grey, each listed when present; a
scenicness map on a fixed 1-10 colour scale with a labelled colour bar; any other layer on a
continuous scale. Titles name the prompt set, period and CRS and say, in red, when the map is a
demonstration only (synthetic imagery, random weights). Legends sit outside the map and the figure
is saved with a tight bounding box, so no label is cut.
"""

from __future__ import annotations

import os
import textwrap

import numpy as np

from ._files import atomic_path
from .legend import CLASS_NODATA, NODATA_RGB, Legend

#: Longest side of the quicklook image in map pixels (the COG's overviews make the read cheap).
MAX_SIDE = 1024
#: The scenicness scale: colour bars always span it, so maps are comparable.
SCENIC_RANGE = (1.0, 10.0)
#: Colour map of scenicness and of continuous layers; how no data is drawn there.
CONTINUOUS_CMAP = "viridis"


def write_quicklook(cog: str | os.PathLike, png: str | os.PathLike, *, title: str, legend: Legend | None = None,
                    scenic: bool = False) -> str:
    """Write ``png`` showing band 1 of ``cog`` with a legend (class map) or a colour bar. Returns the path."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend (a notebook's inline one) is left alone

    data, nodata = _read_small(cog)
    fig = Figure(figsize=(8, 6), dpi=100)
    ax = fig.subplots()
    try:
        draw(ax, data, legend=legend, nodata=nodata, scenic=scenic, title=title)
        with atomic_path(png, suffix=".png") as tmp:
            fig.savefig(tmp, metadata={"Software": "tsmap"}, bbox_inches="tight", pad_inches=0.2)
    finally:
        fig.clear()
    return os.fspath(png)


def draw(ax, data: np.ndarray, *, legend: Legend | None = None, nodata=None, scenic: bool = False, title: str = "",
         label: str = ""):
    """Draw a (y, x) map on ``ax``: classes with ``legend``, else scenicness (1-10) or a continuous layer."""
    if legend is not None:
        draw_classes(ax, data, legend)
    else:
        draw_continuous(ax, data, nodata=nodata, scenic=scenic, label=label)
    if title:
        head, _, notes = title.partition("\n")
        ax.set_title(head, fontsize=10, loc="left", pad=20 if notes else 6)
        if notes:
            ax.text(0, 1.01, notes, transform=ax.transAxes, color="#c00000", fontsize=9, fontweight="bold",
                    va="bottom", ha="left")
    ax.set_axis_off()
    return ax


def draw_classes(ax, data: np.ndarray, legend: Legend) -> None:
    """Class values in their legend colours; a legend outside the map of every value present."""
    from matplotlib.patches import Patch

    data = np.asarray(data)
    rgb = np.zeros((256, 3), np.float32)
    for value, _, colour in legend.entries():
        rgb[value] = np.asarray(colour, np.float32) / 255
    ax.imshow(rgb[data.astype(np.uint8)], interpolation="nearest")
    present = set(np.unique(data).tolist())
    handles = [Patch(facecolor=np.asarray(c) / 255, edgecolor="#808080", linewidth=0.5, label=_wrap(name))
               for value, name, c in legend.entries() if value in present]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False,
              borderaxespad=0.0)


def draw_continuous(ax, data: np.ndarray, *, nodata=None, scenic: bool = False, label: str = "") -> None:
    """A float layer on a colour scale (fixed 1-10 for scenicness); no data in light grey."""
    import matplotlib

    values = np.asarray(data, dtype=np.float32)
    if nodata is not None and not np.isnan(nodata):
        values = np.where(values == nodata, np.nan, values)
    cmap = matplotlib.colormaps[CONTINUOUS_CMAP].with_extremes(bad=np.asarray(NODATA_RGB) / 255)
    lo, hi = SCENIC_RANGE if scenic else (None, None)
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
    bar = ax.figure.colorbar(im, ax=ax, shrink=0.8)
    bar.set_label(label or ("scenicness (1 = least, 10 = most scenic)" if scenic else "value"))
    if scenic:
        bar.set_ticks(np.arange(1, 11))


def _wrap(name: str, width: int = 30) -> str:
    return "\n".join(textwrap.wrap(name, width)) or name


def _read_small(cog) -> tuple[np.ndarray, float | None]:
    import rasterio

    with rasterio.open(cog) as src:
        factor = max(1, int(np.ceil(max(src.height, src.width) / MAX_SIDE)))
        shape = (max(1, src.height // factor), max(1, src.width // factor))
        return src.read(1, out_shape=shape), src.nodata


__all__ = ["CLASS_NODATA", "draw", "draw_classes", "draw_continuous", "write_quicklook"]
