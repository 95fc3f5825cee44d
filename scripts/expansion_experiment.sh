#!/usr/bin/env bash
# The experiments of docs/expansion.md: the same network, seed and flags,
# trained on MNIST without and with on-the-fly expansion; then the plots.
# Run from the repository root:  scripts/expansion_experiment.sh [full|small|plots|all]
# OUT (default out/expansion) keeps the logs, metrics and models.
set -euo pipefail
OUT=${OUT:-out/expansion}
NNDL=${NNDL:-.venv/bin/nndl}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT" docs
NET=(--sizes 784,100,10 --batch-size 10 --eta 0.5 --seed 1 --evaluate-on validation
     --monitor evaluation-accuracy --progress off)

run() {  # NAME FLAGS...: one training run, its log, metrics and model
    local name=$1; shift
    "$NNDL" train "${NET[@]}" "$@" --save "$OUT/$name.json" --metrics-out "$OUT/$name-metrics.json" \
        | tee "$OUT/$name.log"
}

full() {   # all 50,000 training images, 30 epochs, lmbda 5 (the chapter's settings)
    run plain --epochs 30 --lmbda 5.0
    run elastic --epochs 30 --lmbda 5.0 --expand elastic:alpha=34,sigma=4
    run affine --epochs 30 --lmbda 5.0 --expand affine:rotate=10,shift=1,skew=10,scale=0.1
}

small() {  # the first 5,000 training images; lmbda scaled down as in the chapter's more_data.py
    run small-plain --epochs 150 --lmbda 0.5 --train-size 5000
    run small-elastic --epochs 150 --lmbda 0.5 --train-size 5000 --expand elastic:alpha=34,sigma=4
}

plots() {
    "$PY" scripts/plot_expansion.py accuracy "$OUT/plain-metrics.json" "$OUT/elastic-metrics.json" \
        "$OUT/affine-metrics.json" docs/expansion-full.png
    "$PY" scripts/plot_expansion.py accuracy "$OUT/small-plain-metrics.json" \
        "$OUT/small-elastic-metrics.json" docs/expansion-small.png
    "$PY" scripts/plot_expansion.py rotation docs/expansion-rotation.png --model "$OUT/plain.json"
    "$NNDL" expand --transform elastic:alpha=34,sigma=4 --out "$OUT/preview-elastic.npz" \
        --preview docs/expansion-elastic.png
    "$NNDL" expand --transform affine:rotate=10,shift=1,skew=10,scale=0.1 \
        --out "$OUT/preview-affine.npz" --preview docs/expansion-affine.png
}

case "${1:-all}" in
    full) full ;; small) small ;; plots) plots ;;
    all) full; small; plots ;;
    *) echo "usage: $0 [full|small|plots|all]" >&2; exit 2 ;;
esac
