"""``tsmap info FILE``: what a tsmap output, embedding store or checkpoint holds, in a few lines.

* a GeoTIFF: grid, bands, the class legend, provenance (prompts, text model, checkpoint, period,
  items) and whether it is complete;
* an embedding store (``.zarr``): grid, tile size, encoding, period, completeness, missing tiles;
* a checkpoint (``.safetensors`` or the authors' ``.ckpt``): model size, preprocessing, text model,
  provenance.
"""

from __future__ import annotations

import json
import os

from .errors import InputError
from .outputs import typed_value
from .provenance import Provenance
from .store import RasterStore

#: Tags shown (in this order) for a COG; the rest are counted.
COG_KEYS = ("prompts_name", "scenic_prompts", "text_model", "checkpoint", "stac", "query", "complete", "missing_tiles",
            "synthetic", "warnings", "tsmap_version")


def describe(path: str | os.PathLike) -> str:
    """A short human-readable description of ``path``; :class:`InputError` for anything else."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path!r} does not exist; give a tsmap map (.tif), embedding store (.zarr) or checkpoint")
    if os.path.isdir(path):
        return _store(path)
    if path.lower().endswith((".tif", ".tiff")):
        return _cog(path)
    if path.lower().endswith((".safetensors", ".ckpt", ".pt", ".pth")):
        return _checkpoint(path)
    raise InputError(f"{path!r} is not a tsmap map (.tif), embedding store (.zarr) or checkpoint (.safetensors, .ckpt)")


def _grid_line(epsg, shape, resolution) -> str:
    h, w = shape
    return f"grid:        {w} x {h} px at {resolution:g} m, EPSG:{epsg}"


def _cog(path: str) -> str:
    import rasterio

    with rasterio.open(path) as src:
        tags = src.tags()
        lines = [f"{path}: GeoTIFF{' (COG)' if src.overviews(1) else ''}",
                 _grid_line(src.crs.to_epsg() if src.crs else "none", src.shape, src.res[0]),
                 f"bands:       {', '.join(d or f'band {i + 1}' for i, d in enumerate(src.descriptions))} "
                 f"({src.dtypes[0]}, nodata {src.nodata})"]
    if "classes" in tags:
        names = typed_value(tags["classes"])
        shown = ", ".join(f"{i} {n}" for i, n in enumerate(names[:12])) + (
            f", ... ({len(names)} classes)" if len(names) > 12 else ""
        )
        lines.append(f"classes:     {shown}; 254 unknown, 255 no data")
    lines += [f"{k + ':':<12} {_short(tags[k])}" for k in COG_KEYS if k in tags]
    if "items" in tags:
        lines.append(f"{'items:':<12} {Provenance.from_tags(tags).n_items} scenes")
    return "\n".join(lines)


def _store(path: str) -> str:
    store = RasterStore.open(path)
    attrs = store.attrs
    emb = store.group["embedding"] if "embedding" in store.group.array_keys() else None
    prov = attrs.get("tsmap_provenance", {})
    missing = attrs.get("tsmap_missing_tiles", [])
    lines = [
        f"{path}: tsmap embedding store (Zarr v3)",
        _grid_line(store.grid.epsg, store.grid.shape, store.grid.resolution),
        f"tiles:       {len(store.tiles)} of {store.tile_size} px",
    ]
    if emb is not None:
        lines.append(f"embeddings:  {emb.shape[0]}-d, {emb.dtype} ({prov.get('encoding', emb.dtype)})")
    period = attrs.get("tsmap_period") or [None, None]
    lines.append(f"period:      {str(period[0])[:10]} .. {str(period[1])[:10]}")
    lines.append(
        f"complete:    {'yes' if attrs.get('complete') else 'no (rerun the same tsmap embed command to finish it)'}"
        + (f"; {len(missing)} tiles missing (nodata): {', '.join(missing[:8])}" if missing else "")
    )
    lines += [f"{k + ':':<12} {_short(prov[k])}" for k in ("checkpoint", "stac", "query", "synthetic") if k in prov]
    if "items" in prov:
        lines.append(f"{'items:':<12} {Provenance.from_tags(prov).n_items} scenes")
    return "\n".join(lines)


def _checkpoint(path: str) -> str:
    from .checkpoint import load_checkpoint  # imports torch: only for checkpoints, so `tsmap info map.tif` stays quick

    ckpt = load_checkpoint(path)
    c, prep = ckpt.model.config, ckpt.preprocessing
    lines = [f"{path}: encoder checkpoint",
             f"model:       dim {c.dim}, depth {c.depth}, heads {c.heads}, mlp {c.mlp_dim}, {c.patch}x{c.patch} patch, "
             f"{c.out_dim}-d output",
             f"input:       {prep.temporal} composites, rule {prep.composite.rule}, bands {' '.join(prep.bands)}",
             f"text model:  {ckpt.text_model}",
             f"weights:     sha256 {ckpt.weights_sha256[:16]}..."]
    lines += [f"{k + ':':<12} {_short(v)}" for k, v in sorted(ckpt.provenance.items())]
    return "\n".join(lines)


def _short(value, width: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= width else text[: width - 3] + "..."
