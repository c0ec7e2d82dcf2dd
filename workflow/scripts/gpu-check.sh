#!/usr/bin/env bash
# The CUDA check (issue #6), one short script for a GPU machine whose Python already has torch,
# transformers and peft (no data, model download or Snakemake needed):
#   1. tests/test_cuda.py: device choice, bf16 autocast, the second-order search step (CUDA vs
#      CPU hypergradient, also with the exact Hessian-vector products on SDPA attention) and a
#      PEFT LoRA step on the GPU;
#   2. benchmarks/step_time.py on a roberta-base-shaped model (random weights; batch 16 x 128,
#      k = 8) on the GPU in bf16 and on the machine's CPUs in fp32, printed one after the other.
# Usage: bash workflow/scripts/gpu-check.sh [python]   (default python3; about 2 minutes on an H200)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${1:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" OMP_WAIT_POLICY=PASSIVE PYTHONUNBUFFERED=1
"$PY" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device visible"; print(torch.__version__, torch.cuda.get_device_name())'
"$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py
benchmark=("$PY" benchmarks/step_time.py --random-init roberta-base --batch-size 16 --seq-len 128)
"${benchmark[@]}" --device cuda --precision auto --rounds 5 --per-round 10
"${benchmark[@]}" --device cpu --precision fp32 --threads "$(nproc)" --rounds 2 --per-round 1
