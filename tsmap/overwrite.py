"""One rule for files already at an output path (rio's ``--overwrite`` convention), and writable output folders.

:func:`check_outputs`, before any work:

* an output that is one of the run's inputs (an input COG of the catalog, the prompt file, the
  checkpoint, the embedding store) is refused, always;
* the outputs of the same run (same fingerprint: an identical finished run, or one being resumed) are
  fine: the run is up to date or completes them;
* anything else there is replaced only with ``overwrite=True`` (``--overwrite``): a file tsmap did not
  write, or the outputs of another tsmap run (other inputs or options);
* a folder tsmap did not write is never deleted, even with ``overwrite``.

:func:`check_writable` proves the output folder takes a file before anything is computed.
"""

from __future__ import annotations

import json
import os
import uuid

from .errors import InputError


def check_outputs(paths, *, inputs=(), same_run: bool = False, overwrite: bool = False) -> None:
    """Refuse to replace what must not be replaced at ``paths`` (see the module docstring)."""
    sources = [p for p in (os.fspath(i) for i in inputs if i) if os.path.exists(p)]
    for path in map(os.fspath, paths):
        if not os.path.lexists(path):
            continue
        if any(_same_file(path, src) for src in sources):
            raise InputError(
                f"output {path!r} is one of this run's inputs; tsmap never overwrites an input: choose another --out"
            )
        if same_run:
            continue
        ours = written_by_tsmap(path)
        if os.path.isdir(path) and not ours:
            raise InputError(
                f"{path!r} is a folder not written by tsmap; tsmap never deletes it, even with --overwrite: "
                "choose another --out"
            )
        if overwrite:
            continue
        if ours:
            raise InputError(
                f"{path!r} holds the output of a different tsmap run (other inputs or options); "
                "pass --overwrite to replace it, or choose another --out"
            )
        raise InputError(
            f"{path!r} exists and was not written by tsmap; pass --overwrite to replace it, or choose another --out"
        )


def check_writable(folder: str | os.PathLike) -> None:
    """Create and remove a probe file in ``folder``: a read-only or full folder fails now, not after the work."""
    folder = os.fspath(folder)
    probe = os.path.join(folder, f".tsmap-probe-{uuid.uuid4().hex[:8]}")
    try:
        with open(probe, "wb"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise InputError(
            f"cannot write in output folder {folder!r} ({exc.strerror or exc}); choose a writable --out"
        ) from None


def written_by_tsmap(path: str) -> bool:
    """Whether ``path`` carries tsmap's marks: provenance tags (COG), ``processing:software`` (STAC item),
    the PNG ``Software`` text (quicklook), tsmap metadata (checkpoint) or a tsmap grid (Zarr store)."""
    probes = {".tif": _cog, ".tiff": _cog, ".json": _stac_item, ".png": _png, ".safetensors": _checkpoint}
    try:
        if os.path.isdir(path):
            return _store(path)
        probe = probes.get(os.path.splitext(path)[1].lower())
        return bool(probe and probe(path))
    except Exception:  # unreadable or another format: not ours
        return False


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _cog(path: str) -> bool:
    import rasterio

    with rasterio.Env(), rasterio.open(path) as f:
        return "tsmap_version" in f.tags()


def _stac_item(path: str) -> bool:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    return "tsmap" in doc.get("properties", {}).get("processing:software", {})


def _png(path: str) -> bool:
    from PIL import Image

    with Image.open(path) as im:
        return str(im.info.get("Software", "")).startswith("tsmap")


def _checkpoint(path: str) -> bool:
    from .checkpoint import read_metadata  # imports torch (and checkpoint imports this module): only for checkpoints

    return read_metadata(path) is not None


def _store(path: str) -> bool:
    with open(os.path.join(path, "zarr.json"), encoding="utf-8") as f:
        return "tsmap_grid" in json.load(f).get("attributes", {})
