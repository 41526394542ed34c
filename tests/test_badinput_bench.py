"""`tsmap bench`: bad options are one line before anything is measured (table-driven)."""

from __future__ import annotations

import pytest

from tsmap.cli import main

from .badinput import Case, run_case


def _no_gpu():
    import torch

    return pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")


CASES = [
    Case("batch-0", ("bench", "--batch", "0"), code=2, phrase="Invalid value for '--batch'"),
    Case("batch-negative", ("bench", "--batch", "-8"), code=2, phrase="Invalid value for '--batch'"),
    Case("rounds-0", ("bench", "--rounds", "0"), code=2, phrase="Invalid value for '--rounds'"),
    Case("workers-0", ("bench", "--workers", "0"), code=2, phrase="Invalid value for '--workers'"),
    Case("precision-fp64", ("bench", "--precision", "fp64"), phrase="unknown precision 'fp64'"),
    Case("precision-empty", ("bench", "--precision", ","), phrase="--precision"),
    Case("device-gpu", ("bench", "--device", "gpu"), phrase="--device 'gpu'"),
    Case("device-cuda-without-gpu", ("bench", "--device", "cuda"), phrase="no CUDA device", marks=(_no_gpu(),)),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_bench_bad_input(case, tmp_path):
    run_case(case, tmp_path, main)
