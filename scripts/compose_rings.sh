#!/bin/sh
# Composition on a ring x quadrant model (docs/composition.md): every combination at each
# weight, one line "w ring quadrant inside mmd mmd_floor" per run.
#   sh scripts/compose_rings.sh runs/rq "0 0.5 1 3" > compose_rings.txt
M=${1:-runs/rq}
for w in ${2:-1}; do
    for r in 0 1 2 3; do
        for q in 0 1 2 3; do
            ./cdrl eval --model "$M" --compose ring=$r,quadrant=$q -w $w -n 2000 -t 1 |
                awk -v r=$r -v q=$q -v w=$w '/^inside/ {i = $2} /^mmd / {m = $2}
                    /^mmd_data/ {f = $2} END {print w, r, q, i, m, f}'
        done
    done
done
