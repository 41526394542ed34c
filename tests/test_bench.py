import json

import pytest
from click.testing import CliRunner

from tsmap.bench import _vit_flops, format_report, run_bench
from tsmap.cli import main
from tsmap.errors import InputError
from tsmap.model import EncoderConfig


def test_bench_figures_are_consistent():
    result = run_bench(device="cpu", precisions=("fp32",), batch=64, pixels=128, rounds=2, seconds=0.05, vit=False)
    json.dumps(result)  # JSON-ready
    r = result["fp32"]
    flops = EncoderConfig().flops_per_pixel()
    assert result["flop_per_pixel"] == {"executed": flops["fast"], "standard_forward": flops["standard"]}
    # figures are rounded (rates to 0.1, trials to 0.01, fractions to 0.001): compare within what rounding moves
    px, roofline = r["encoder_px_s"], r["roofline_gflops"]
    assert len(r["trials"]["encoder_px_s"]) == 2 and abs(px - max(r["trials"]["encoder_px_s"])) <= 0.0551
    assert roofline > 1 and px > 1 and r["batch"] == 64
    fraction = px * flops["fast"] / 1e9 / roofline
    assert abs(r["fraction_of_roofline"] - fraction) <= fraction * (0.051 / px + 0.051 / roofline) + 0.0005
    assert "speedup_vs_vit_b32" not in r
    line = format_report(result).splitlines()[2]
    assert line.startswith(
        f"fp32: encoder {px:,.0f} px/s = {r['encoder_gflops']:.0f} GFLOP/s, roofline {roofline:.0f} GFLOP/s"
    )
    assert f"fraction {r['fraction_of_roofline']:.2f} (target 0.60)" in line


def test_vit_b32_flops_are_counted():
    assert 8.5e9 < _vit_flops() < 9.0e9  # 4.4 GMAC per 224x224 image


def test_cli_bench_json_with_vit():
    res = CliRunner().invoke(main, ["bench", "--json", "--precision", "fp32", "--batch", "32", "--rounds", "1"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    r = out["fp32"]
    assert r["vit_b32_img_s"] > 0 and r["speedup_vs_vit_b32"] == pytest.approx(
        r["encoder_px_s"] / r["vit_b32_img_s"], rel=0.02
    )
    assert out["targets"] == {"fraction_of_roofline": 0.6, "speedup_vs_vit_b32": 50.0}


def test_bad_options():
    with pytest.raises(InputError, match="unknown precision 'fp8'"):
        run_bench(precisions=("fp8",), vit=False)
    res = CliRunner().invoke(main, ["bench", "--precision", "fp16"])
    assert res.exit_code == 1 and res.output.strip() == "Error: unknown precision 'fp16'; choose from fp32, bf16"


def test_concurrent_workers_mode():
    result = run_bench(
        device="cpu", precisions=("fp32",), batch=32, pixels=64, rounds=1, seconds=0.05, workers=2, vit=False
    )
    assert result["workers"] == 2 and result["fp32"]["encoder_px_s"] > 1
    with pytest.raises(InputError, match="workers must be >= 1"):
        run_bench(workers=0, vit=False)
