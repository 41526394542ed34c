"""What GDAL does with a band COG whose compressed bytes were overwritten, and what the plausibility guard catches.

For each codec, one real-looking L2A band (the synthetic demo scene's B04, +1000 offset, 256 x 256 px in one
tile) is written as a tiled GeoTIFF; then, per seed, 8-63 random bytes overwrite a random run of the tile's
compressed data and the file is read back with rasterio. Each trial is one of: a read error (tsmap: a read
failure, retried, then a failed tile), unchanged, or silent garbage; for the silent ones it reports how
many show at least one value the guard calls impossible (DN > 20,000 after the offset) and which fraction
of the changed pixels that is.

    PYTHONPATH=$PWD python tests/bench/bench_corruption.py --seeds 100
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import rasterio
from affine import Affine

from tsmap.bands import BOA_ADD_OFFSET_DN
from tsmap.plausibility import DN_MAX

CODECS = {"DEFLATE": {}, "ZSTD": {}, "LZW": {}, "LERC": {"max_z_error": 0}}


def band(size: int = 256) -> np.ndarray:
    """Plausible B04 digital numbers (+1000 offset) from the demo scene's spectra."""
    from tsmap.synthetic import make_scene

    with tempfile.TemporaryDirectory() as tmp:
        make_scene(tmp, size=size)
        path = sorted(p for p in _walk(tmp) if p.endswith("B04.tif"))[6]
        with rasterio.open(path) as f:
            return f.read(1)


def _walk(root):
    for folder, _, files in os.walk(root):
        yield from (os.path.join(folder, f) for f in files)


def trial(data: np.ndarray, codec: str, seed: int, path: str) -> tuple[str, float]:
    h, w = data.shape
    profile = dict(driver="GTiff", width=w, height=h, count=1, dtype="uint16", crs="EPSG:32632", nodata=0,
                   transform=Affine(10, 0, 0, 0, -10, 0), tiled=True, blockxsize=256, blockysize=256, compress=codec)
    with rasterio.open(path, "w", **profile, **CODECS[codec]) as f:
        f.write(data, 1)
    with rasterio.open(path) as f:
        offset = int(f.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))
        size = int(f.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=1))
    rng = np.random.default_rng(seed)
    raw = bytearray(open(path, "rb").read())
    start, n = offset + int(rng.integers(16, size - 80)), int(rng.integers(8, 64))
    raw[start : start + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    with open(path, "wb") as f:
        f.write(bytes(raw))
    try:
        with rasterio.open(path) as f:
            got = f.read(1)
    except rasterio.errors.RasterioIOError:
        return "error", 0.0
    changed = got != data
    if not changed.any():
        return "unchanged", 0.0
    flagged = (got.astype(np.int64) - BOA_ADD_OFFSET_DN > DN_MAX) & changed
    return "silent", float(flagged.sum() / changed.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    args = ap.parse_args()
    data = band()
    print(
        f"{'codec':8} {'trials':>6} {'error':>6} {'unchanged':>9} {'silent':>6} {'flagged':>8} "
        f"{'changed px flagged':>19}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for codec in CODECS:
            outcomes = [trial(data, codec, s, os.path.join(tmp, "b.tif")) for s in range(args.seeds)]
            kinds = [k for k, _ in outcomes]
            silent = [f for k, f in outcomes if k == "silent"]
            flagged = sum(f > 0 for f in silent)
            share = f"{np.median(silent):.1%} (median)" if silent else "-"
            print(f"{codec:8} {len(kinds):>6} {kinds.count('error'):>6} {kinds.count('unchanged'):>9} {len(silent):>6} "
                  f"{flagged:>8} {share:>19}")


if __name__ == "__main__":
    main()
