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
    assert len(r["trials"]["encoder_px_s"]) == 2 and r["encoder_px_s"] == round(max(r["trials"]["encoder_px_s"]), 1)
    assert r["roofline_gflops"] > 1 and r["encoder_px_s"] > 1 and r["batch"] == 64
    assert r["fraction_of_roofline"] == pytest.approx(r["encoder_px_s"] * flops["fast"] / 1e9 / r["roofline_gflops"], abs=2e-3)
    assert "speedup_vs_vit_b32" not in r
    assert "fp32: encoder" in format_report(result)


def test_vit_b32_flops_are_counted():
    assert 8.5e9 < _vit_flops() < 9.0e9  # 4.4 GMAC per 224x224 image


def test_cli_bench_json_with_vit():
    res = CliRunner().invoke(main, ["bench", "--json", "--precision", "fp32", "--batch", "32", "--rounds", "1"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    r = out["fp32"]
    assert r["vit_b32_img_s"] > 0 and r["speedup_vs_vit_b32"] == pytest.approx(r["encoder_px_s"] / r["vit_b32_img_s"], rel=0.02)
    assert out["targets"] == {"fraction_of_roofline": 0.6, "speedup_vs_vit_b32": 50.0}


def test_bad_options():
    with pytest.raises(InputError, match="unknown precision 'fp8'"):
        run_bench(precisions=("fp8",), vit=False)
    res = CliRunner().invoke(main, ["bench", "--precision", "fp16"])
    assert res.exit_code == 1 and res.output.strip() == "Error: unknown precision 'fp16'; choose from fp32, bf16"


def test_concurrent_workers_mode():
    result = run_bench(device="cpu", precisions=("fp32",), batch=32, pixels=64, rounds=1, seconds=0.05, workers=2, vit=False)
    assert result["workers"] == 2 and result["fp32"]["encoder_px_s"] > 1
    with pytest.raises(InputError, match="workers must be >= 1"):
        run_bench(workers=0, vit=False)
