#!/bin/bash
# The study's code (docs/results.md, amendment log): commit 749e1c3 with the robust cascade on top
# (cascade-on-749e1c3.patch: main's 4fe3fa7 as it applies there), exported with git archive, so
# that every table runs the same code whatever main has become since. Usage:
#   bash scripts/study/export.sh DIR        # DIR/ gets the tree, node_modules linked from this clone
set -euo pipefail
dir=${1:?usage: export.sh DIR}
here=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$dir"
git -C "$here" archive 749e1c3 | tar -x -C "$dir"
(cd "$dir" && git apply "$here/scripts/study/cascade-on-749e1c3.patch")
ln -sfn "$here/node_modules" "$dir/node_modules"
[ -d "$here/data/spoken-digits" ] && ln -sfn "$here/data/spoken-digits" "$dir/data/spoken-digits"
echo "749e1c3+cascade" > "$dir/COMMIT"
echo "study code in $dir"
