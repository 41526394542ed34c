#!/usr/bin/env bash
# One prepared run on a lent CUDA machine (the project's device tool): bench, parity, pipeline, training.
# The machine has torch but not the rest of tsmap's stack: carry it as .whl/site.tar.xz (wheels for its
# Python unpacked into one folder, tests/ folders removed), made here with `pip download --no-deps
# --only-binary=:all: --python-version 3.12 ...` of the versions in the venv. Figures land in $OUT.
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
OUT=${OUT:-gpu-check}; mkdir -p "$OUT"
mkdir -p /tmp/site && tar -C /tmp/site -xJf .whl/site.tar.xz
mkdir -p .pyshim && ln -sfn "$PWD/train" .pyshim/tsmap_train
export PYTHONPATH="$PWD:$PWD/.pyshim:/tmp/site"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm --format=csv
python3 tests/bench/gpu_check.py --out "$OUT" 2>&1 | tee "$OUT/gpu_check.log"
python3 -m tsmap bench --device cuda --json > "$OUT/bench.json" 2> "$OUT/bench.err"
python3 -c "import json, sys; from tsmap.bench import format_report; print(format_report(json.load(open(sys.argv[1]))))" \
    "$OUT/bench.json" | tee "$OUT/bench.txt"
timeout 150 python3 -m pytest -q -x -p no:cacheprovider tests/test_encode.py tests/test_batching.py tests/test_model.py \
    tests/test_train_trainer.py 2>&1 | tail -15 | tee "$OUT/pytest.txt"
