"""Fault survey: what the command line does when assets, disks, signals and catalogs misbehave.

    PYTHONPATH=$PWD python tests/bench/fault_survey.py [--cases truncated,missing,...] [--work DIR]

Builds the 64 px demo scene and a small encoder checkpoint, then runs ``python -m tsmap`` (the
tsmap on PYTHONPATH, run from the work folder) once per fault and prints one line per case: exit code, seconds, the last
line of stderr, and what was left or written. Runs against any tsmap version with the same
command line, so the same script gives the "before" and "after" columns of the fault table.
``diskfull`` needs root (it mounts a small tmpfs) and is skipped otherwise.
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

CASES = ("truncated", "missing", "workers", "changed", "hole", "diskfull", "ulimit", "concurrent", "userdata",
         "hostile", "sigint", "sigterm")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--work", default=None)
    args = p.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="tsmap-faults-")
    env = Env(work)
    for case in args.cases.split(","):
        start = time.perf_counter()
        try:
            line = globals()[f"case_{case}"](env)
        except Exception as exc:  # the survey goes on
            line = f"survey error: {type(exc).__name__}: {exc}"
        print(f"{case:<11} {time.perf_counter() - start:6.0f} s  {line}", flush=True)


class Env:
    """The demo scene, a small checkpoint and the common arguments."""

    def __init__(self, work: str) -> None:
        from tsmap.checkpoint import save_checkpoint
        from tsmap.model import EncoderConfig, build_encoder
        from tsmap.specs import AUTHORS
        from tsmap.synthetic import make_scene

        self.work = work
        self.scene = make_scene(os.path.join(work, "scene"), size=64)
        self.ckpt = os.path.join(work, "small.safetensors")
        model = build_encoder(EncoderConfig(dim=32, depth=1, heads=4, mlp_dim=16, out_dim=512), seed=0)
        save_checkpoint(self.ckpt, model, AUTHORS, text_model="open_clip:ViT-B-32/none")
        b = self.scene.grid.lonlat_bbox()
        self.bbox = f"{b.west},{b.south},{b.east},{b.north}"
        self.ref = self.folder("ref")
        self.run(["predict", *self.args(), "--out", f"{self.ref}/map.tif"])

    def folder(self, name: str) -> str:
        path = os.path.join(self.work, name)
        os.makedirs(path, exist_ok=True)
        return path

    def copy_scene(self, name: str) -> str:
        """A copy of the scene (relative hrefs), returning its catalog path."""
        dst = os.path.join(self.work, name)
        shutil.copytree(os.path.dirname(os.path.dirname(self.scene.catalog)), dst)
        return os.path.join(dst, "stac", "catalog.json")

    def args(self, stac: str | None = None, tile: int = 32, workers: int = 2, prompts: bool = True) -> list[str]:
        text = ["--prompts", "land-cover", "--clip-pretrained", "none"] if prompts else []
        return ["--bbox", self.bbox, "--year", "2023", *text, "--stac", stac or self.scene.catalog,
                "--checkpoint", self.ckpt, "--tile", str(tile), "--workers", str(workers), "--quiet"]

    def run(self, argv, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tsmap", *argv], capture_output=True, text=True, timeout=1200,
                              cwd=self.work, **kw)

    def start(self, argv, **kw) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "tsmap", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=self.work, **kw)


def tail(res) -> str:
    lines = [ln for ln in (res.stderr or "").strip().splitlines() if not ln.startswith("WARNING: text tower")]
    tb = " [traceback]" if "Traceback" in (res.stderr or "") else ""
    return f"rc {res.returncode}{tb}: {(lines[-1] if lines else (res.stdout or '').strip()[-160:])[:220]}"


def read(path):
    import rasterio

    with rasterio.open(path) as f:
        return f.read(), f.tags()


def differing(a, b) -> int:
    x, y = read(a)[0], read(b)[0]
    return int((~((x == y) | (np.isnan(x) & np.isnan(y)))).any(axis=0).sum())


def items_of(catalog: str) -> list[str]:
    return sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(catalog)), "imagery", "*")))


def case_truncated(env) -> str:
    stac = env.copy_scene("s-trunc")
    band = os.path.join(items_of(stac)[10], "B04.tif")
    with open(band, "r+b") as f:
        f.truncate(os.path.getsize(band) // 2)
    out = env.folder("trunc")
    res = env.run(["predict", *env.args(stac), "--out", f"{out}/map.tif"])
    wrote = os.path.exists(f"{out}/map.tif")
    extra = f"; {differing(f'{out}/map.tif', f'{env.ref}/map.tif')} px differ from the clean map" if wrote else ""
    return f"{tail(res)}; map written: {wrote}{extra}"


def case_missing(env) -> str:
    stac = env.copy_scene("s-miss")
    os.remove(os.path.join(items_of(stac)[10], "B04.tif"))
    out = env.folder("miss")
    res = env.run(["predict", *env.args(stac), "--out", f"{out}/map.tif"])
    first = tail(res)
    if not os.path.exists(f"{out}/map.tif"):
        res = env.run(["predict", *env.args(stac), "--out", f"{out}/map.tif", "--allow-missing"])
        first += f" | with --allow-missing: {tail(res)}"
    if os.path.exists(f"{out}/map.tif"):
        classes, tags = read(f"{out}/map.tif")
        skipped = tags.get("skipped_assets", "-")[:80]
        first += f"; nodata px {int((classes == 255).sum())} of {classes.size}; skipped_assets tag: {skipped}"
    return first


def case_workers(env) -> str:
    outs = []
    for workers in (1, 2):
        out = env.folder(f"w{workers}")
        res = env.run(["predict", *env.args(tile=16, workers=workers), "--out", f"{out}/map.tif"])
        outs.append(out)
        if res.returncode:
            return tail(res)
    same = all(
        open(f"{outs[0]}/{n}", "rb").read() == open(f"{outs[1]}/{n}", "rb").read() for n in ("map.tif", "map_score.tif")
    )
    return f"workers 1 vs 2 byte-identical: {same} ({os.cpu_count()} cores)"


def _kill_after(env, argv, ledger: str, done: int, sig=signal.SIGKILL, **kw) -> subprocess.Popen:
    proc = env.start(argv, **kw)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(ledger) and open(ledger).read().count('"done"') >= done:
            break
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(timeout=300)
    return proc


def case_changed(env) -> str:
    stac = env.copy_scene("s-change")
    out = env.folder("change")
    args = ["predict", *env.args(stac, tile=16, workers=1), "--out", f"{out}/map.tif"]
    _kill_after(env, args, f"{out}/map.tif.ledger.jsonl", 5)
    import rasterio

    for item in items_of(stac):  # regenerate every B08 under the same href: brighter NIR
        path = os.path.join(item, "B08.tif")
        with rasterio.open(path) as f:
            data, profile, tags = f.read(), f.profile, f.tags()
        tmp = path + ".new"
        with rasterio.open(tmp, "w", **profile) as f:
            f.write(np.where(data > 0, np.minimum(data.astype(np.int64) * 2, 65535), 0).astype(data.dtype))
            f.update_tags(**tags)
        os.replace(tmp, path)
    res = env.run(args)
    fresh = env.folder("change-fresh")
    env.run(["predict", *env.args(stac, tile=16, workers=1), "--out", f"{fresh}/map.tif"])
    n = differing(f"{out}/map_score.tif", f"{fresh}/map_score.tif")
    complete = read(f"{out}/map.tif")[1].get("complete")
    return (f"{tail(res)} | stdout: {res.stdout.strip()[:90]}; complete tag: {complete}; "
            f"{n} score px differ from a fresh run")


def case_hole(env) -> str:
    out = env.folder("hole")
    res = env.run(["embed", *env.args(prompts=False), "--out", f"{out}/emb.zarr"])
    if res.returncode:
        return tail(res)
    ref = env.run(
        [
            "classify",
            "--embeddings",
            f"{out}/emb.zarr",
            "--prompts",
            "land-cover",
            "--clip-pretrained",
            "none",
            "--out",
            f"{out}/ref.tif",
            "--quiet",
        ]
    )
    chunks = sorted(p for p in glob.glob(f"{out}/emb.zarr/embedding/c/**", recursive=True) if os.path.isfile(p))
    os.remove(chunks[1])
    res = env.run(
        [
            "classify",
            "--embeddings",
            f"{out}/emb.zarr",
            "--prompts",
            "land-cover",
            "--clip-pretrained",
            "none",
            "--out",
            f"{out}/map.tif",
            "--quiet",
        ]
    )
    extra = ""
    if os.path.exists(f"{out}/map.tif") and ref.returncode == 0:
        a, tags = read(f"{out}/map.tif")
        b = read(f"{out}/ref.tif")[0]
        extra = f"; {int(((a == 255) & (b != 255)).sum())} valid px became nodata; complete tag: {tags.get('complete')}"
    return tail(res) + extra


def case_diskfull(env) -> str:
    if os.geteuid() != 0:
        return "skipped (needs root to mount a tmpfs)"
    results = []
    for size in ("300k", "1200k", "2400k"):
        mnt = env.folder(f"tmpfs-{size}")
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", mnt], check=True)
        try:
            args = ["predict", *env.args(), "--out", f"{mnt}/map.tif", "--keep-embeddings", f"{mnt}/emb.zarr"]
            res = env.run(args)
            left = sorted(os.listdir(mnt))
            subprocess.run(["mount", "-o", "remount,size=64m", mnt], check=True)
            again = env.run(args)
            results.append(f"[{size}] {tail(res)}; left {left} -> rerun {tail(again)}")
        finally:
            subprocess.run(["umount", mnt], check=False)
    return " ".join(results)


def case_ulimit(env) -> str:
    out = env.folder("ulimit")
    args = ["predict", *env.args(), "--out", f"{out}/map.tif", "--keep-embeddings", f"{out}/emb.zarr"]
    res = env.run(args, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000)))
    left = sorted(os.listdir(out))
    again = env.run(args)
    return f"{tail(res)}; left {left} -> rerun {tail(again)}"


def case_concurrent(env) -> str:
    out = env.folder("concurrent")
    args = ["predict", *env.args(tile=16, workers=1), "--out", f"{out}/map.tif"]
    a = env.start(args)
    time.sleep(2)
    b = env.start(args)
    ra, rb = a.communicate(timeout=900), b.communicate(timeout=900)
    res = [subprocess.CompletedProcess(args, p.returncode, r[0], r[1]) for p, r in ((a, ra), (b, rb))]
    return f"first {tail(res[0])} | second {tail(res[1])}"


def case_userdata(env) -> str:
    out = env.folder("userdata")
    os.makedirs(f"{out}/map.tif.parts.zarr")
    with open(f"{out}/map.tif.parts.zarr/notes.txt", "w") as f:
        f.write("my notes")
    res = env.run(["predict", *env.args(), "--out", f"{out}/map.tif"])
    kept = os.path.exists(f"{out}/map.tif.parts.zarr/notes.txt")
    out = env.folder("scratch")
    stale = f"{out}/.map.tif.0123abcd.blocks.tmp"  # left by a kill during the COG write
    shutil.copy(f"{env.ref}/map.tif", stale)
    again = env.run(["predict", *env.args(), "--out", f"{out}/map.tif"])
    return (f"{tail(res)}; user folder kept: {kept} | beside a stale COG scratch file: {tail(again)}; "
            f"scratch left: {os.path.exists(stale)}")


def case_hostile(env) -> str:
    """A static catalog served over HTTP whose assets point at local files (file://) or at /vsicurl/ URLs."""
    import pystac

    site = env.folder("site")
    os.symlink(
        os.path.join(os.path.dirname(os.path.dirname(env.scene.catalog)), "imagery"), os.path.join(site, "imagery")
    )
    port = os.path.join(env.work, "port")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.http_faults",
            site,
            os.path.join(env.work, "plan.json"),
            port,
            os.path.join(env.work, "requests.log"),
        ],
        cwd=root,
    )
    lines = []
    try:
        while not os.path.exists(port):
            time.sleep(0.05)
        url = f"http://127.0.0.1:{open(port).read()}"
        for kind in ("file", "vsicurl"):
            cat = pystac.Catalog.from_file(env.scene.catalog)
            new = pystac.Catalog(f"hostile-{kind}", "hostile")
            for item in cat.get_items(recursive=True):
                clone = item.clone()
                clone.clear_links()
                for key, asset in clone.assets.items():
                    absolute = item.assets[key].get_absolute_href()
                    rel = os.path.relpath(absolute, os.path.dirname(os.path.dirname(env.scene.catalog)))
                    asset.href = f"file://{absolute}" if kind == "file" else f"/vsicurl/{url}/{rel}"
                new.add_item(clone)
            new.normalize_hrefs(os.path.join(site, kind))
            new.save(pystac.CatalogType.SELF_CONTAINED)
            out = env.folder(f"hostile-{kind}")
            res = env.run(
                ["predict", *env.args(f"{url}/{kind}/catalog.json"), "--out", f"{out}/map.tif", "--retries", "1"]
            )
            lines.append(f"[{kind}] {tail(res)}; map written: {os.path.exists(f'{out}/map.tif')}")
    finally:
        server.kill()
    return " ".join(lines)


def _signal_case(env, sig) -> str:
    out = env.folder(f"sig{int(sig)}")
    args = ["predict", *env.args(tile=16, workers=1), "--out", f"{out}/map.tif"]
    proc = _kill_after(env, args, f"{out}/map.tif.ledger.jsonl", 3, sig=sig, preexec_fn=_default_sigint)
    err = proc.stderr.read().strip().splitlines()
    res = env.run(args)
    return f"rc {proc.returncode}: {(err[-1] if err else '')[:200]} | rerun: {tail(res)} {res.stdout.strip()[:80]}"


def _default_sigint() -> None:
    """A background shell starts its children with SIGINT ignored; a user's terminal does not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def case_sigint(env) -> str:
    return _signal_case(env, signal.SIGINT)


def case_sigterm(env) -> str:
    return _signal_case(env, signal.SIGTERM)


if __name__ == "__main__":
    main()
