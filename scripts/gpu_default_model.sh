#!/usr/bin/env bash
# `make default-model` on a GPU machine, its independent stages side by side: stage 1 (the CLIP tower) beside the
# CNN baseline, then its continuation (refine), then HAMLET-FFD beside MFCLIP; then the model folder is assembled
# (measuring it, which needs MediaPipe for the video figures, is left to `make eval-default` wherever it lands).
# usage: scripts/gpu_default_model.sh DATA WORK CACHE MODEL_OUT [SECONDS]
set -u
data=$1 work=$2 cache=$3 out=$4 limit=${5:-86400}
deadline=$(( $(date +%s) + limit ))
stage() {
  timeout $(( deadline - $(date +%s) )) python3 -m core.training.default_model --train-only --stage "$1" \
    --shared "$data" --work "$work" --cache-dir "$cache" --device cuda 2>&1 | sed -u "s/^/[$1] /"
}
stage backbone & first=$!
(sleep 20; stage baseline) & baseline=$!   # starts once stage 1 has begun filling the face cache
wait $first
stage refine
stage hamlet & hamlet=$!
stage mfclip & mfclip=$!
wait $hamlet $mfclip $baseline
python3 -m core.training.default_model --shared "$data" --work "$work" --out "$out" --cache-dir "$cache" --device cuda \
  --no-measure
