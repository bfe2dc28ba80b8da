#!/usr/bin/env bash
# Forward throughput of real-size Hugging Face checkpoints (random weights): ember (flex)
# against candle-transformers on the same files (BERT, Llama, CLIP ViT-B/32 image tower),
# alternating in one run so both see the same machine state. Figures go to docs/perf.md.
#
#   cargo build --release --workspace --features ndarray --example hf_real_size
#   (cd peers/candle && cargo build --release)
#   scripts/bench_hf_forward.sh [DIR] [ROUNDS] [ITERS]
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/tmp/hfreal}
ROUNDS=${2:-3}
ITERS=${3:-5}
EMBER=target/release/examples/hf_real_size
CANDLE=peers/candle/target/release/candle-peer
[ -d "$DIR/bert-base" ] || $EMBER write bert-base "$DIR/bert-base"
[ -d "$DIR/llama-1b-4l" ] || $EMBER write llama-1b-4l "$DIR/llama-1b-4l"
[ -d "$DIR/clip-vit-b32" ] || $EMBER write clip-vit-b32 "$DIR/clip-vit-b32"
for r in $(seq "$ROUNDS"); do
  for cfg in "bert bert-base 8 128" "llama llama-1b-4l 1 128" "llama llama-1b-4l 4 128"; do
    set -- $cfg
    $EMBER time "$DIR/$2" "$3" "$4" "$ITERS"
    $CANDLE --arch "$1" --model "$DIR/$2" --batch "$3" --seq "$4" --iters "$ITERS" --warmup 1
  done
  # CLIP ViT-B/32 image tower (get_image_features) on 8 images of 224 px; SEQ is ignored.
  $EMBER time "$DIR/clip-vit-b32" 8 1 "$ITERS"
  $CANDLE --arch clip --model "$DIR/clip-vit-b32" --batch 8 --iters "$ITERS" --warmup 1
done
