#!/bin/bash
# Copies the study's finished runs (row.json, eval.json, metrics.jsonl; no checkpoints, locks or temp files) into the repository.
set -e
S=${1:?usage: sync.sh RUNS}; here=$(cd "$(dirname "$0")/../.." && pwd); R=$here/results/study
copy() { # copy SRC_DIR DEST_DIR: every run directory that holds a row.json
  [ -d "$1" ] || return 0
  (cd "$1" && find . -name row.json -printf '%h\n') | while read -r d; do
    mkdir -p "$2/$d"; for f in row.json eval.json metrics.jsonl; do [ -f "$1/$d/$f" ] && cp "$1/$d/$f" "$2/$d/$f"; done; true
  done
}
for d in images/curve-e2 images/curve-e4 images/knobs-e2 satellite-knobs-e4 letter-knobs-e4 digits-knobs-e2; do copy $S/sizing/$d $here/results/study-sizing/$d; done
copy $S/images-a $R/images; copy $S/images-b $R/images
for t in satellite letter digits; do copy $S/$t $R/$t; done
