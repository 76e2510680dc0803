#!/usr/bin/env bash
# The default design's training recipe, once, for `make train` (width 0.25, 2 CPU threads)
# and `make train-full` (the seeds' width 1.25; a GPU is used when torch sees one):
#   1. a float student distilled from SFace on ORL s1-s30: embedding, feature maps, relational 10
#   2. 6 epochs of 4-bit QAT (MSE-started learned scales) from that float student, distilled from it
# Usage: scripts/train_recipe.sh WIDTH RUNS [THREADS]   writes RUNS-float/ and RUNS/ (final.pt
# in each; resumable: run the same command again). PY names the interpreter (default .venv's).
set -euo pipefail
width="${1:?usage: scripts/train_recipe.sh WIDTH RUNS [THREADS]}"
runs="${2:?usage: scripts/train_recipe.sh WIDTH RUNS [THREADS]}"
threads="${3:-2}"
PY="${PY:-.venv/bin/python}"
common=(--task face --width "$width" --arc-weight 0 --copies 10 --mixup 0.3 --relational 10
        --batch 32 --threads "$threads")
"$PY" -m model.train "${common[@]}" --out "$runs-float" --quant float --feature-distill 7 --epochs 10
"$PY" -m model.train "${common[@]}" --out "$runs" --quant w4a4-mse --epochs 6 --lr 1e-3 \
  --teacher "$runs-float/final.pt" --init "$runs-float/final.pt"
