#!/bin/bash
# The ablations behind `nndl train --preset best` (docs/results/best.md): each
# run changes one thing from a base network and trains it for 40 epochs with
# the learning rate decayed 0.93x per epoch (a compressed version of the
# preset's 300-epoch schedule).  Every run is judged on the validation set;
# --no-test leaves the test set untouched.  Runs go two at a time, each with
# one BLAS thread; metrics go to OUT (default docs/results/ablations).
# NNDL names the nndl command (default .venv/bin/nndl).
#
#   NNDL_DATA=../shared/data/mnist.pkl.gz scripts/best_ablations.sh [OUT]
set -euo pipefail
out=${1:-docs/results/ablations}
mkdir -p "$out"
base="--sizes 784,800,10 --activation relu --output softmax --batch-size 100 --eta 0.05
      --momentum 0.9 --lmbda 0 --epochs 40 --lr-schedule step:1:0.93 --seed 1
      --monitor evaluation-accuracy --progress off --no-test"
el="--expand elastic:alpha=34,sigma=4"
runs=(
  "a_plain"
  "b_elastic $el"
  "c_el_aff $el --expand affine:rotate=10,scale=0.1"
  "e_el_drop $el --dropout 0.5"
  "g_el_eta01 $el --eta 0.1"
  "i_el_l2 $el --lmbda 5"
  "j_el_maxnorm $el --max-norm 3"
  "f_2x800_el $el --sizes 784,800,800,10"
  "q_2x800_el_eta02 $el --sizes 784,800,800,10 --eta 0.02"
  "r_2x800_el_eta01 $el --sizes 784,800,800,10 --eta 0.1"
  "m_3x800_el $el --sizes 784,800,800,800,10"
  "n_2x1200_el $el --sizes 784,1200,1200,10"
)
for run in "${runs[@]}"; do
  set -- $run
  name=$1; shift
  echo "OPENBLAS_NUM_THREADS=1 ${NNDL:-.venv/bin/nndl} train $base $* --metrics-out $out/$name.json > $out/$name.log"
done | xargs -P 2 -I CMD bash -c CMD
