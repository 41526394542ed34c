"""Same results before and after a change: `tsmap demo` run from two source trees, every output compared.

    git archive OLD tsmap train | tar -x -C /tmp/before && ln -s /tmp/before/train /tmp/before/tsmap_train
    python tests/bench/compare_demo_runs.py /tmp/before "$PWD" /tmp/compare --checkpoint model.safetensors

Each tree must hold ``tsmap/`` and ``tsmap_train`` (a link to ``train/``; in a checkout: ``.pyshim/``). Runs
``python -m tsmap demo --size 64 --out WORKDIR/{before,after} [DEMO OPTIONS]`` with each tree first on
PYTHONPATH, then compares every file: raster pixels, tags and profiles; JSON documents; ledger rows (timings
left out); other files byte for byte. Absolute paths (which name the two folders) are normalised. Pass a fixed
``--checkpoint``: the demo's own training stops after a wall-clock budget, so it differs under load.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import rasterio


def run_demo(tree: Path, out: Path, options: list[str]) -> None:
    shim = tree / ".pyshim" if (tree / ".pyshim").is_dir() else tree
    env = {**os.environ, "PYTHONPATH": f"{tree}:{shim}", "TSMAP_CACHE_DIR": f"{out}-text-cache"}
    command = [sys.executable, "-m", "tsmap", "demo", "--size", "64", "--out", str(out), "-q", *options]
    subprocess.run(command, env=env, check=True, cwd=out.parent)


def same(a: Path, b: Path, folders: tuple[Path, Path]) -> bool:
    def text(path: Path, folder: Path) -> str:
        return path.read_text(encoding="utf-8").replace(str(folder), "OUT")

    if a.suffix == ".tif":
        with rasterio.open(a) as fa, rasterio.open(b) as fb:
            tags = [{k: v.replace(str(d), "OUT") for k, v in f.tags().items()} for f, d in zip((fa, fb), folders)]
            profiles = [{**f.profile, "nodata": str(f.nodata)} for f in (fa, fb)]  # NaN != NaN
            pixels = np.array_equal(fa.read(), fb.read(), equal_nan=True)
            return pixels and tags[0] == tags[1] and profiles[0] == profiles[1]
    if a.name.endswith(".ledger.jsonl"):  # the header's fingerprint hashes the catalog's (different) path
        rows = [[json.loads(line) for line in text(p, d).splitlines()][1:] for p, d in zip((a, b), folders)]
        untimed = [[{k: v for k, v in r.items() if k not in ("time", "seconds")} for r in side] for side in rows]
        return untimed[0] == untimed[1]
    if a.suffix == ".json":
        return json.loads(text(a, folders[0])) == json.loads(text(b, folders[1]))
    return a.read_bytes() == b.read_bytes()


def main() -> None:
    before, after, work = (Path(p).resolve() for p in sys.argv[1:4])
    folders = (work / "before", work / "after")
    for tree, out in zip((before, after), folders):
        if not out.exists():
            run_demo(tree, out, sys.argv[4:])
    names = [sorted(p.relative_to(f) for p in f.rglob("*") if p.is_file()) for f in folders]
    print(f"same file names: {names[0] == names[1]}; only before: {sorted(set(names[0]) - set(names[1]))[:5]}; "
          f"only after: {sorted(set(names[1]) - set(names[0]))[:5]}")
    differ = [rel for rel in names[0] if (folders[1] / rel).exists() and not same(*(f / rel for f in folders), folders)]
    for rel in differ:
        print("DIFFERS:", rel)
    print(f"{len(names[0])} files compared, {len(differ)} differ")


if __name__ == "__main__":
    main()
