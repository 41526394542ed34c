"""The one band table: canonical Sentinel-2 bands, their native resolution and asset names.

Every other module asks this table; nothing else spells band names.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Dimension names used across tsmap.
TIME, BAND, MONTH, Y, X, EMBED = "time", "band", "month", "y", "x", "embed"


@dataclass(frozen=True)
class Band:
    """One Sentinel-2 L2A band."""

    name: str  #: canonical name, e.g. "B02"
    common: str  #: Earth Search v1 asset key, e.g. "blue"
    resolution: int  #: native ground sampling distance in metres


#: The 10 reflectance bands in the order the TimeSenCLIP encoder expects.
SPECTRAL: tuple[Band, ...] = (
    Band("B02", "blue", 10),
    Band("B03", "green", 10),
    Band("B04", "red", 10),
    Band("B05", "rededge1", 20),
    Band("B06", "rededge2", 20),
    Band("B07", "rededge3", 20),
    Band("B08", "nir", 10),
    Band("B8A", "nir08", 20),
    Band("B11", "swir16", 20),
    Band("B12", "swir22", 20),
)

#: The scene classification layer used for cloud masking.
SCL = Band("SCL", "scl", 20)

SPECTRAL_NAMES: tuple[str, ...] = tuple(b.name for b in SPECTRAL)
ALL_BANDS: tuple[Band, ...] = SPECTRAL + (SCL,)

#: L2A digital numbers from processing baseline 04.00 on carry this offset.
BOA_ADD_OFFSET_DN = 1000
#: Scale from digital numbers to reflectance.
REFLECTANCE_SCALE = 1e-4


def asset_key(item_assets: dict, band: Band) -> str:
    """Return the key under which ``band`` is stored in a STAC item's assets.

    Accepts Earth Search common names (``blue``), band names (``B02``) and the
    ``eo:bands`` metadata of any asset.
    """
    for key in (band.common, band.name, band.name.lower()):
        if key in item_assets:
            return key
    for key, asset in item_assets.items():
        meta = asset if isinstance(asset, dict) else asset.to_dict()
        for eo_band in meta.get("eo:bands", []) or []:
            if eo_band.get("name") in (band.name, band.common):
                return key
    raise KeyError(band.name)
