"""Keep the CRS on xarray results: a CF ``spatial_ref`` coordinate, read and written by rioxarray.

Every stage that returns xarray objects (cube, composite, embeddings, maps) passes its input's
``spatial_ref`` on, so ``result.rio.crs`` answers at every step and ``result.rio.to_raster(...)``
writes a georeferenced file. Importing this module registers the ``.rio`` accessor.
"""

from __future__ import annotations

import rioxarray  # noqa: F401  (registers the .rio accessor on every xarray object)

from .dims import SPATIAL_REF



def with_crs(obj, epsg: int):
    """``obj`` with a ``spatial_ref`` coordinate for ``EPSG:epsg`` (CF grid mapping + WKT)."""
    return obj.rio.write_crs(f"EPSG:{int(epsg)}")


def keep_crs(obj, source):
    """``obj`` with ``source``'s ``spatial_ref`` coordinate (when it has one), so the CRS survives a stage."""
    if SPATIAL_REF in getattr(source, "coords", {}) and SPATIAL_REF not in obj.coords:
        obj = obj.assign_coords({SPATIAL_REF: source.coords[SPATIAL_REF]})
    return obj
