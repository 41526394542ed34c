"""Quicklook PNGs: a small picture of a map with its legend, read from the COG's overviews."""

from __future__ import annotations

import os

import numpy as np

#: Longest side of the quicklook image in map pixels (the COG's overviews make the read cheap).
MAX_SIDE = 1024


def write_quicklook(cog: str | os.PathLike, png: str | os.PathLike, *, title: str, classes: list[tuple[str, tuple]] | None = None) -> str:
    """Write ``png`` showing band 1 of ``cog``: a class map with a legend of ``classes`` (name, RGB),
    or, without ``classes``, a continuous map with a colour bar. Returns the path written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    data, nodata = _read_small(cog)
    fig, ax = plt.subplots(figsize=(8, 6), dpi=100)
    if classes is not None:
        rgba = np.zeros((*data.shape, 4), np.float32)
        for value, (_, rgb) in enumerate(classes):
            rgba[data == value] = (*[c / 255 for c in rgb[:3]], 1.0)
        ax.imshow(rgba, interpolation="nearest")
        present = set(np.unique(data).tolist())
        handles = [Patch(color=[c / 255 for c in rgb[:3]], label=name) for v, (name, rgb) in enumerate(classes) if v in present]
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False)
    else:
        shown = np.where(data == nodata, np.nan, data) if nodata is not None and not np.isnan(nodata) else data
        im = ax.imshow(shown, cmap="viridis", interpolation="nearest")
        fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
    fig.tight_layout()
    tmp = f"{os.fspath(png)}.tmp.png"
    try:
        fig.savefig(tmp, metadata={"Software": None})
        os.replace(tmp, png)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return os.fspath(png)


def _read_small(cog) -> tuple[np.ndarray, float | None]:
    import rasterio

    with rasterio.open(cog) as src:
        factor = max(1, int(np.ceil(max(src.height, src.width) / MAX_SIDE)))
        shape = (max(1, src.height // factor), max(1, src.width // factor))
        return src.read(1, out_shape=shape), src.nodata
