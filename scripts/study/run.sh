#!/bin/bash
# Runs (or resumes) the study's tables from the exported code, in the background-friendly order of
# docs/results.md: each part finishes three seeds of the rows that decide a hypothesis first. Rows
# that need a knob start only once docs/results.md's amendment log names the knob's value.
#   bash scripts/study/run.sh CODE RUNS sizing|images-a|satellite
# CODE: a tree from export.sh; RUNS: where run directories and checkpoints go (outside git).
# Then: bash scripts/study/sync.sh RUNS (copies the finished runs' row.json/eval.json into results/).
set -uo pipefail
code=${1:?CODE}; runs=${2:?RUNS}; part=${3:?part}
cd "$code"
wgrad() { npx tsx src/cli/main.ts "$@"; }
EVAL="--robust-attacks pgd:20,apgd:100 --robust-cascade --robust-limit 1000 --probe-select val"
case "$part" in
  images-a)
    ROBUST=raw,random,supervised,supervised-at,simclr,noise,rocl,simclr+reg,simclr+reg:reg-perturbation=random
    C="compare --backend wasm --data fashion-mnist --train-limit 10000 --width 8 --epochs 8 --batch 128 --seeds 3 --robust-rows $ROBUST --eval-eps 0.05,0.1,0.15,0.2 $EVAL --out $runs/images-a --resume"
    wgrad $C --methods simclr,rocl || exit 1
    wgrad $C --methods simclr+reg --regularizer 1 || exit 1
    wgrad $C --methods simclr+reg:reg-perturbation=random --regularizer 1 || exit 1
    wgrad $C --methods supervised-at || exit 1
    wgrad $C --methods raw,random,supervised || exit 1 ;;
  satellite)
    C="compare --backend wasm --data data/satellite.csv --batch 256 --epochs 20 --seeds 3 --noise-std 0.3 --mask-prob 0.15 --method-options aplr:eps=0.3 --eval-eps 0.1,0.25 $EVAL --out $runs/satellite --resume"
    wgrad $C --methods aplr,noise,mask,aplr:perturbation=zero,aplr:perturbation=random || exit 1
    wgrad $C --methods raw,random,supervised,aplr:objective=softHgr || exit 1 ;;
  sizing)  # the sizing runs (seed 0, the knob grids at a fifth of the budget; results/study-sizing)
    S="compare --backend wasm --seeds 1 --probe-select val --attack fgsm --eval-eps 0.1 --robust-limit 1 --resume"
    I="$S --data fashion-mnist --train-limit 10000 --width 8"
    wgrad $I --methods raw,random,simclr --epochs 2 --out $runs/sizing/images/curve-e2
    wgrad $I --methods simclr --epochs 4 --out $runs/sizing/images/curve-e4
    wgrad $I --methods noise:noise-std=0.05,noise,noise:noise-std=0.2,mask:mask-prob=0.15,mask,mask:mask-prob=0.5,aplr:eps=0.05,aplr,aplr:eps=0.2 --epochs 2 --out $runs/sizing/images/knobs-e2
    K=raw,random,noise:noise-std=0.1,noise:noise-std=0.3,noise:noise-std=1,mask:mask-prob=0.15,mask,mask:mask-prob=0.5,aplr:eps=0.1,aplr:eps=0.3,aplr:eps=1
    wgrad $S --data data/satellite.csv --batch 256 --epochs 4 --methods $K --out $runs/sizing/satellite-knobs-e4
    wgrad $S --data data/letter-recognition.csv --batch 256 --epochs 4 --methods $K --out $runs/sizing/letter-knobs-e4
    wgrad $S --data data/spoken-digits --batch 64 --epochs 2 --methods $K --out $runs/sizing/digits-knobs-e2 ;;
  *) echo "run.sh: unknown part $part (sizing, images-a, satellite; the others once their knobs are chosen)" >&2; exit 2 ;;
esac
