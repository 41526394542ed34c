#!/usr/bin/env bash
# One prepared run on a lent CUDA machine (the project's device tool): bench, parity, pipeline, training.
# The machine has torch but not the rest of tsmap's stack: carry it in .whl/ as site.tar.xz (wheels for its
# Python unpacked into one folder, tests/ folders removed to stay under the 64 MiB limit) plus loose wheels
# unpacked over it (pytz and tzdata for pandas 2.x; bottleneck, whose __init__ imports its own tests), made
# here with `pip download --no-deps --only-binary=:all: --python-version 3.12 ...` of the venv's versions.
# Figures land in $OUT; see the GPU section of the README for the figures of the last run.
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
OUT=${OUT:-gpu-check}; mkdir -p "$OUT"
mkdir -p /tmp/site && tar -C /tmp/site -xJf .whl/site.tar.xz && for w in .whl/*.whl; do python3 -m zipfile -e "$w" /tmp/site; done
mkdir -p .pyshim && ln -sfn "$PWD/train" .pyshim/tsmap_train
export PYTHONPATH="$PWD:$PWD/.pyshim:/tmp/site"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm --format=csv
python3 tests/bench/gpu_check.py --out "$OUT" 2>&1 | tee "$OUT/gpu_check.log"
python3 -m tsmap bench --device cuda --json > "$OUT/bench.json" 2> "$OUT/bench.err"
python3 -c "import json, sys; from tsmap.bench import format_report; print(format_report(json.load(open(sys.argv[1]))))" \
    "$OUT/bench.json" | tee "$OUT/bench.txt"
timeout 150 python3 -m pytest -q -x -p no:cacheprovider tests/test_encode.py tests/test_batching.py tests/test_model.py \
    tests/test_train_trainer.py 2>&1 | tail -15 | tee "$OUT/pytest.txt"
