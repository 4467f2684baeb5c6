#!/bin/sh
# `cdrl train` and `cdrl sample` on images end to end, on a folder of three 8x8 grey PNGs in two
# class sub-folders (made by the helper build/tests/test_energy) with the tiny-image preset:
# unconditional and class-conditional training (checkpoint, metrics, sample grid and its
# per-step copies), single PNGs through a %d pattern (count, size, grey), grids, the same bytes
# for the same seed, --resume; `cdrl ood` (a row per level, the scores files) and `cdrl
# inpaint` (known values exact, the baselines, one file and a folder). Failures, one line
# each: an -o without %d, a class past K, a --classes that is not the data's, image data under
# a 2-D preset, bad ood sets, inpaint without a mask or with an unknown kind. Not checked: what the
# samples look like (docs/tuning.md has the Fashion-MNIST run). Writes only under
# $CLI_TEST_DIR/image.
CDRL=${CDRL:-./cdrl}
T=${CLI_TEST_DIR:-build/cli-test}/image
HELPER=$(dirname "$CDRL")/tests/test_energy
[ -x "$HELPER" ] || HELPER=build/tests/test_energy
checks=0
failed=0

rm -rf "$T"
mkdir -p "$T/in" "$T/data/shirt" "$T/data/shoe"

. tests/cli_util.sh

# "W H COLOUR_TYPE" of a PNG from its IHDR chunk (bytes 16..25).
png_info() {
    od -An -tu1 -j16 -N10 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8, $10}'
}

echo "cli image"
"$HELPER" inputs "$T/in" >"$T/out" 2>"$T/err"
ok $? "helper wrote three 8x8 PNGs"
cp "$T/in/a.png" "$T/in/b.png" "$T/data/shirt/"
cp "$T/in/c.png" "$T/data/shoe/"
DATA="folder:$T/data"

# ---------------------------------------------------------------------------------------
# Unconditional
run 0 "train tiny-image, 4 steps, grid every 2" "$CDRL" train --preset tiny-image --data "$DATA" \
    --out "$T/u" --iters 4 --fig-every 2 --log-every 2 -t 1
[ -s "$T/u/model.safetensors" ] && [ -s "$T/u/samples.png" ] && [ -s "$T/u/metrics.jsonl" ]
ok $? "run folder: model.safetensors, samples.png, metrics.jsonl"
[ -s "$T/u/grids/step_0000002.png" ] && [ -s "$T/u/grids/step_0000004.png" ]
ok $? "grids/step_0000002.png and step_0000004.png"
# 10x10 tiles of 8 pixels with 2-pixel gaps: 10*8 + 11*2 = 102, RGB (colour type 2)
[ "$(png_info "$T/u/samples.png")" = "102 102 2" ]
ok $? "samples.png is a 10x10 grid of 8x8 tiles ($(png_info "$T/u/samples.png"))"
! grep -q '"eval"' "$T/u/metrics.jsonl"
ok $? "no 2-D evaluation record for images"
run 0 "sample -n 5 -o pattern --grid" "$CDRL" sample -m "$T/u" -n 5 -o "$T/s_%02d.png" \
    --grid "$T/g.png" --cols 5 -t 1
[ "$(ls "$T"/s_*.png | wc -l)" -eq 5 ] && [ -s "$T/s_00.png" ] && [ -s "$T/s_04.png" ]
ok $? "five single PNGs s_00.png .. s_04.png"
[ "$(png_info "$T/s_03.png")" = "8 8 0" ]
ok $? "a single PNG is 8x8 grey ($(png_info "$T/s_03.png"))"
[ "$(png_info "$T/g.png")" = "52 12 2" ]
ok $? "grid of 5 columns: 52x12 ($(png_info "$T/g.png"))"
grep -q "5 images" "$T/out"
ok $? "summary line"
run 0 "same seed again" "$CDRL" sample -m "$T/u" -n 5 -o "$T/t_%02d.png" --grid "$T/g2.png" \
    --cols 5 -t 2
cmp -s "$T/g.png" "$T/g2.png" && cmp -s "$T/s_04.png" "$T/t_04.png"
ok $? "same seed, 1 or 2 threads: the same bytes"
run 0 "another seed" "$CDRL" sample -m "$T/u" -n 5 --grid "$T/g3.png" --cols 5 -s 2 -t 1
! cmp -s "$T/g.png" "$T/g3.png"
ok $? "another seed: another grid"
run 0 "sample without -o writes samples.png" sh -c "cd '$T' && '$(pwd)/$CDRL' sample -m u -n 3 -t 1"
[ -s "$T/samples.png" ]
ok $? "samples.png in the working folder"
run 0 "resume to 6 steps" "$CDRL" train --out "$T/u" --resume --iters 6 --fig-every 0 -t 1
[ -s "$T/u/grids/step_0000006.png" ]
ok $? "the final grid of the resumed run"

# ---------------------------------------------------------------------------------------
# Class-conditional
run 0 "train --classes 2" "$CDRL" train --preset tiny-image --data "$DATA" --classes 2 \
    --out "$T/c" --iters 3 -t 1
"$CDRL" info "$T/c" | grep -q "n_classes  *2$"
ok $? "checkpoint configuration has n_classes 2"
run 0 "sample --class 2 -w 0.5" "$CDRL" sample -m "$T/c" -n 4 --class 2 -w 0.5 --grid "$T/c2.png" -t 1
run 0 "sample --class 1 -w 0.5" "$CDRL" sample -m "$T/c" -n 4 --class 1 -w 0.5 --grid "$T/c1.png" -t 1
! cmp -s "$T/c1.png" "$T/c2.png"
ok $? "classes 1 and 2 give different samples"

# ---------------------------------------------------------------------------------------
# Out-of-distribution scores and inpainting
run 0 "ood: the data against uniform noise" "$CDRL" ood -m "$T/c" --in "$DATA" --out uniform -n 3 \
    --scores "$T/ood.csv" -t 1
[ "$(grep -c '^EBM f, level' "$T/out")" -eq 6 ] && grep -q "level 1 \*" "$T/out"
ok $? "ood: AUROC and FPR@95 for each of the 6 levels, level 1 marked"
[ "$(wc -l <"$T/ood.csv")" -eq 7 ] && head -1 "$T/ood.csv" | grep -q "^set,index,score,f1,.*,f6$"
ok $? "ood --scores: a CSV header and 6 rows"
run 0 "ood --pair 2 --scores x.json" "$CDRL" ood -m "$T/c" --in "$DATA@hflip" --out "$DATA@invert" \
    -n 3 -j 2 --scores "$T/ood.json" --plot "$T/ood.png" -t 1
# 6 panels of 160 pixels, gaps of 6: 6*160 + 7*6 = 1002 wide, 172 high
[ "$(png_info "$T/ood.png")" = "1002 172 2" ]
ok $? "ood --plot: one histogram panel per level ($(png_info "$T/ood.png"))"
grep -q '"pair":2' "$T/ood.json" && grep -q "level 2 \*" "$T/out"
ok $? "ood: --pair 2 in the JSON and the table"
run 2 "ood without --out" "$CDRL" ood -m "$T/c" --in "$DATA" -t 1
one_line "--out are required"
run 2 "ood: an unknown transform" "$CDRL" ood -m "$T/c" --in "$DATA@blur" --out uniform -n 2 -t 1
one_line "unknown transform @blur"
run 2 "ood: more inputs than the set" "$CDRL" ood -m "$T/c" --in "$DATA" --out uniform -n 5 -t 1
one_line "3 inputs, 5 asked for"
run 0 "inpaint --data, random mask" "$CDRL" inpaint -m "$T/c" --data "$DATA" --mask-kind random \
    -n 3 -k 2 --average 2 --grid "$T/inp.png" -t 1
grep -q "known values changed: 0" "$T/out" && [ "$(grep -c 'fill\|alone\|Langevin' "$T/out")" -ge 3 ] &&
    grep -q "mean of 2 completions" "$T/out"
ok $? "inpaint: known values exact; cdrl, initializer-alone, mean-fill and averaged rows"
[ "$(png_info "$T/inp.png")" = "32 52 2" ]
ok $? "inpaint --grid: 5 rows of 3 ($(png_info "$T/inp.png"))"
run 0 "inpaint one PNG" "$CDRL" inpaint -m "$T/c" --image "$T/in/b.png" --mask "$T/in/a.png" \
    -o "$T/filled.png" -k 2 -t 1
[ "$(png_info "$T/filled.png")" = "8 8 0" ]
ok $? "inpaint: an 8x8 grey PNG"
mkdir -p "$T/filled"
run 0 "inpaint a folder" "$CDRL" inpaint -m "$T/c" --image "$T/data/shirt" --mask "$T/in/a.png" \
    -o "$T/filled" -k 2 -t 1
[ -s "$T/filled/a.png" ] && [ -s "$T/filled/b.png" ] && [ "$(ls "$T/filled" | wc -l)" -eq 2 ]
ok $? "inpaint: one PNG per input, same names"
run 2 "inpaint without a mask" "$CDRL" inpaint -m "$T/c" --image "$T/in/b.png" -o "$T/x.png" -t 1
one_line "give --image, --mask and -o"
run 2 "inpaint: a bad mask kind" "$CDRL" inpaint -m "$T/c" --data "$DATA" --mask-kind left -n 2 -t 1
one_line "--mask-kind left"

# ---------------------------------------------------------------------------------------
# Composition on the generated shapes (four attributes): a tiny model, two steps
run 0 "train on shapes --labels" "$CDRL" train --preset fmnist-cpu --data shapes --labels \
    --set flip=0 --iters 2 --batch 4 --ebm-ch 8 --set unet_dim=32 --set ebm_blocks=1 \
    --out "$T/sh" --fig-every 0 --no-eval -t 1
"$CDRL" info "$T/sh" | grep -q "more_classes  *2,4,2$"
ok $? "shape (3), then size, position, brightness (2, 4, 2)"
run 0 "eval --compose on shapes" "$CDRL" eval -m "$T/sh" --compose shape=1,position=2 -w 1 -n 4 \
    --plot "$T/shc.png" -t 1
grep -q "^all_right " "$T/out" && [ "$(grep -c '^attr_right ' "$T/out")" -eq 2 ] && [ -s "$T/shc.png" ]
ok $? "the share with every composed attribute right, each attribute's, a grid"
run 0 "sample --compose on shapes" "$CDRL" sample -m "$T/sh" --compose shape=2,brightness=1 \
    -n 3 --grid "$T/shs.png" -t 1
run 2 "eval --compose on images not of shapes" "$CDRL" eval -m "$T/c" --compose class=1 -n 2 -t 1
one_line "measured on the shapes data"

# ---------------------------------------------------------------------------------------
# Failures
run 2 "-o without %d" "$CDRL" sample -m "$T/u" -n 2 -o "$T/x.png" -t 1
one_line "one %d"
run 2 "--class past K" "$CDRL" sample -m "$T/c" -n 2 --class 3 -t 1
one_line "--class 3"
run 1 "--classes 5 on two-class data" "$CDRL" train --preset tiny-image --data "$DATA" \
    --classes 5 --out "$T/bad" --iters 1 -t 1
one_line "2 classes, the conditional model has 5"
run 1 "images under a 2-D preset" "$CDRL" train --preset demo --data "$DATA" --out "$T/bad2" \
    --iters 1 -t 1
one_line "need an image preset"

echo "test_cli_image: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
