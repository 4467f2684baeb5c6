#!/bin/sh
# The image yardstick end to end on 8x8 grey PNGs in two class sub-folders (made by the helper
# build/tests/test_energy): `cdrl classifier` (weights, statistics, the same bytes at 1 and 2
# threads), `cdrl eval --images` and `--model` (text and JSON, the initializer's proposals),
# RGB files for a grey classifier, `cdrl train --eval-every` (metrics.jsonl records) and the
# final figures. Failures, one line each: a missing folder, PNGs of the wrong size, a model
# whose data has no classifier, statistics of another classifier. Not checked: the values on real data (docs/yardstick.md).
# Writes only under $CLI_TEST_DIR/yardstick.
CDRL=${CDRL:-./cdrl}
T=${CLI_TEST_DIR:-build/cli-test}/yardstick
HELPER=$(dirname "$CDRL")/tests/test_energy
[ -x "$HELPER" ] || HELPER=build/tests/test_energy
checks=0
failed=0

rm -rf "$T"
mkdir -p "$T/in" "$T/data/shirt" "$T/data/shoe" "$T/big" "$T/rgb"

. tests/cli_util.sh

echo "cli yardstick"
"$HELPER" inputs "$T/in" >"$T/out" 2>"$T/err"
ok $? "helper wrote 8x8 PNGs"
for i in 1 2 3 4; do
    cp "$T/in/a.png" "$T/data/shirt/a$i.png"
    cp "$T/in/b.png" "$T/data/shirt/b$i.png"
    cp "$T/in/c.png" "$T/data/shoe/c$i.png"
done
cp "$T/in/big.png" "$T/big/"
cp "$T/in/big.png" "$T/big/big2.png"
for i in 1 2 3 4; do cp "$T/in/rgb.png" "$T/rgb/rgb$i.png"; done
DATA="folder:$T/data"
CLS="$T/cls.safetensors"

# ---------------------------------------------------------------------------------------
# Classifier
run 0 "classifier, 2 epochs, 1 thread" "$CDRL" classifier --data "$DATA" --test "$DATA" \
    --out "$CLS" --epochs 2 --batch 4 -t 1
print1=$(grep -o "fingerprint [0-9a-f]*" "$T/out")
[ -s "$CLS" ] && [ -s "$T/cls.stats.safetensors" ]
ok $? "weights and cls.stats.safetensors"
grep -q "test accuracy" "$T/out"
ok $? "prints the test accuracy"
run 0 "the same with 2 threads" "$CDRL" classifier --data "$DATA" --test "$DATA" \
    --out "$T/cls2.safetensors" --epochs 2 --batch 4 -t 2
[ -n "$print1" ] && [ "$(grep -o "fingerprint [0-9a-f]*" "$T/out")" = "$print1" ]
ok $? "same seed, 1 or 2 threads: the same weight bytes ($print1)"
run 0 "--stats-only" "$CDRL" classifier --test "$DATA" --out "$T/cls2.safetensors" --stats-only -t 1
cmp -s "$T/cls.stats.safetensors" "$T/cls2.stats.safetensors"
ok $? "--stats-only remakes the same statistics"

# ---------------------------------------------------------------------------------------
# eval --images
run 0 "eval --images (text)" "$CDRL" eval --images "$T/data" --classifier "$CLS" -t 1
grep -q "^fd " "$T/out" && grep -q "^kid " "$T/out" && grep -q "^precision " "$T/out" &&
    grep -q "^recall " "$T/out" && grep -q "^classes " "$T/out"
ok $? "fd, kid, precision, recall and class lines"
run 0 "eval --images --json --folder-classes" "$CDRL" eval --images "$T/data" --classifier "$CLS" \
    --json --folder-classes -t 1
grep -q '"fd":' "$T/out" && grep -q '"acc":' "$T/out" && grep -q '"class_hist":\[' "$T/out"
ok $? "JSON with fd, acc and class_hist"
# the reference is the same folder: its FD is round-off (rank-deficient covariances: 3 distinct
# images, so the square roots of zero eigenvalues give about 1e-6)
awk -F'"fd":' '{split($2, a, ","); exit !(a[1] + 0 < 1e-4 && a[1] + 0 > -1e-4)}' "$T/out"
ok $? "FD of the reference set against itself is 0"

run 0 "eval --images of RGB files (grey classifier: channel mean)" "$CDRL" eval --images \
    "$T/rgb" --classifier "$CLS" -t 1
grep -q "^fd " "$T/out"
ok $? "RGB files scored"

# ---------------------------------------------------------------------------------------
# eval --model and train --eval-every
run 0 "train --classes 2 with --eval-every" "$CDRL" train --preset tiny-image --data "$DATA" \
    --classes 2 --out "$T/c" --iters 3 --eval-every 1e-6 --eval-n 8 --classifier "$CLS" -t 1
[ "$(grep -c '"eval":{"fd":' "$T/c/metrics.jsonl")" -eq 3 ]
ok $? "metrics.jsonl: two --eval-every records and the final one"
grep '"eval"' "$T/c/metrics.jsonl" | head -1 | grep -q '"time_s":.*"acc":.*"kid":.*"precision":.*"recall":.*"fd_init":.*"acc_init":'
ok $? "a record has time_s, fd, acc, kid, precision, recall, fd_init, acc_init"
grep -q "^yardstick " "$T/out" && grep -q "proposals (initializer alone)" "$T/out"
ok $? "the final figures are printed"
run 0 "eval --model -n 8" "$CDRL" eval --model "$T/c" --classifier "$CLS" -n 8 --json -t 1
grep -q '"acc":' "$T/out" && grep -q '"proposals":false' "$T/out"
ok $? "model JSON has the accuracy"
cp "$T/out" "$T/refined.json"
run 0 "eval --model --proposals" "$CDRL" eval --model "$T/c" --classifier "$CLS" -n 8 --json \
    --proposals -t 1
grep -q '"proposals":true' "$T/out" && ! cmp -s "$T/out" "$T/refined.json"
ok $? "proposals alone score differently"
run 0 "eval --guidance 0,1,2 --plot" "$CDRL" eval --model "$T/c" --classifier "$CLS" -n 8 \
    --guidance 0,1,2 --plot "$T/sweep.png" -t 1
[ "$(grep -cE '^ +[0-9.]+ +[0-9.]+ ' "$T/out")" -eq 3 ] && [ -s "$T/sweep.png" ]
ok $? "guidance sweep: one row per w and the plot"
run 0 "eval --guidance 0,1 --json" "$CDRL" eval --model "$T/c" --classifier "$CLS" -n 8 \
    --guidance 0,1 --json -t 1
[ "$(grep -o '"guidance":' "$T/out" | wc -l)" -eq 2 ] && grep -q '"sweep":' "$T/out"
ok $? "guidance sweep JSON: two rows"
run 2 "eval --guidance with a bad list" "$CDRL" eval --model "$T/c" --classifier "$CLS" -n 8 \
    --guidance 0,-1 -t 1
one_line "--guidance: expected"

# ---------------------------------------------------------------------------------------
# Failures
run 1 "missing folder" "$CDRL" eval --images "$T/nowhere" --classifier "$CLS" -t 1
one_line "no such folder"
run 1 "PNGs of the wrong size" "$CDRL" eval --images "$T/big" --classifier "$CLS" -t 1
one_line "images of 10x10, the classifier takes 8x8"
run 1 "a model whose data has no classifier" "$CDRL" eval --model "$T/c" -n 4 -t 1
one_line "no classifier for the data"
run 1 "--eval-every without a classifier" "$CDRL" train --preset tiny-image --data "$DATA" \
    --out "$T/d" --iters 2 --eval-every 1 -t 1
one_line "no classifier for the data"
cp "$T/cls2.stats.safetensors" "$T/other.stats.safetensors"
run 0 "another classifier" "$CDRL" classifier --data "$DATA" --test "$DATA" \
    --out "$T/other.safetensors" --epochs 1 --batch 4 --seed 9 -t 1
cp "$T/cls.stats.safetensors" "$T/other.stats.safetensors"
run 1 "statistics of another classifier" "$CDRL" eval --images "$T/data" \
    --classifier "$T/other.safetensors" -t 1
one_line "made with another classifier"

echo "cli yardstick: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
