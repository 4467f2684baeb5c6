#!/bin/sh
# Composition on a shapes model (docs/composition.md): every shape x position combination at
# each weight, one line "w shape position all_right shape_right position_right" per run.
#   sh scripts/compose_shapes.sh runs/sh "1 3" > compose_shapes.txt
M=${1:-runs/sh}
for w in ${2:-1}; do
    for s in 0 1 2; do
        for p in 0 1 2 3; do
            ./cdrl eval --model "$M" --compose shape=$s,position=$p -w $w -n ${N:-100} |
                awk -v s=$s -v p=$p -v w=$w '/^all_right/ {a = $2} /shape=/ && /^attr/ {sr = $2}
                    /position=/ && /^attr/ {pr = $2} END {print w, s, p, a, sr, pr}'
        done
    done
done
