#!/bin/sh
# The cdrl program end to end on a tiny model (EBM width 16, batch 64, 20 steps): train, info,
# sample, eval --json, resume; and every failure the CLI promises to report as one line with
# the right exit code: usage errors (2), missing and corrupt data and checkpoints (1), a
# resume whose flags contradict the checkpoint (1, checkpoint unchanged), divergence (1, last
# good checkpoint unchanged), Ctrl-C and SIGTERM (130, checkpoint readable). Not checked: the
# quality of the trained model (the toy-training tests), the progress bar (needs a terminal).
# Run from the repository root after `make`; writes only under build/cli-test/ (or
# $CLI_TEST_DIR, which `make test` sets per build folder). CDRL=path
# tests another build of the program.
CDRL=${CDRL:-./cdrl}
T=${CLI_TEST_DIR:-build/cli-test}
TINY="--batch 64 --ebm-ch 16 --init-t 16 --init-h 32 --threads 1 --eval-n 200"
checks=0
failed=0

rm -rf "$T"
mkdir -p "$T"

. tests/cli_util.sh

sum() { cksum <"$1"; }

echo "cli"
# ---------------------------------------------------------------------------------------
# Usage errors: exit 2 and one line.
run 0 "--version" "$CDRL" --version
grep -q '^cdrl [0-9]*\.[0-9]*\.[0-9]*$' "$T/out"
ok $? "version line"
run 0 "help" "$CDRL" help
for c in train sample eval info; do
    run 0 "$c --help" "$CDRL" $c --help
    # every option line ends with its default
    n_opt=$(grep -c '^  *-' "$T/out")
    n_def=$(grep '^  *-' "$T/out" | grep -c '(default: [^)]*)$')
    [ "$n_opt" -gt 0 ] && [ "$n_opt" -eq "$n_def" ]
    ok $? "$c --help: $n_def of $n_opt option lines end with (default: ...)"
done
run 2 "unknown option" "$CDRL" train --foo
[ "$(cat "$T/err")" = "cdrl train: unknown option '--foo' (see cdrl train --help)" ]
ok $? "unknown option message"
run 2 "missing value" "$CDRL" train --iters
one_line "option '--iters' needs a value"
run 2 "bad value" "$CDRL" sample -n abc
one_line "-n expects an integer, got 'abc'"
run 2 "out of range" "$CDRL" train --iters=0
one_line "--iters: 0 is out of range"
run 2 "flag with a value" "$CDRL" train --resume=yes
one_line "option '--resume' takes no value"
run 2 "bad --grid-range" "$CDRL" eval --grid-range 1,2,3
one_line "--grid-range"
run 2 "unknown command" "$CDRL" bogus
one_line "unknown command 'bogus'"

# ---------------------------------------------------------------------------------------
# Data errors: exit 1, one line naming the file (and line).
run 1 "missing data file" "$CDRL" train --data points:$T/nope.csv --out $T/x $TINY --iters 5
one_line "$T/nope.csv: cannot open"
printf 'x,y\n1,2\n3;4\n5,6\n' >"$T/bad.csv"
run 1 "corrupt CSV row" "$CDRL" train --data points:$T/bad.csv --out $T/x $TINY --iters 5
one_line "$T/bad.csv:3:"
[ ! -e "$T/x/model.safetensors" ]
ok $? "no checkpoint written after a data error"

# ---------------------------------------------------------------------------------------
# train -> info -> sample -> eval --json
R=$T/run
# --eval-n 2600 (after $TINY's 200): the figure's sampling with levels then spans two of the
# model's chunks of 2500 rows.
run 0 "train" "$CDRL" train --data checkerboard --out $R --preset demo --iters 20 --ckpt-every 10 --log-every 5 $TINY --eval-n 2600
grep -q '^step 20 | loss_ebm .* | loss_init .* | f+ .* f- .* | .* ms/it$' "$T/out"
ok $? "greppable log line for step 20"
grep -q '^  batch  *64$' "$T/out" && grep -q '^  ebm_ch  *16$' "$T/out"
ok $? "resolved configuration printed"
grep -q '^nll  *[0-9.]* nats$' "$T/out" && grep -q '^mmd  ' "$T/out" && grep -q '^mmd_data ' "$T/out"
ok $? "final NLL and MMD printed"
[ "$(grep -c '"step":' $R/metrics.jsonl)" -eq 5 ] && grep -q '"eval":{"nll":' $R/metrics.jsonl
ok $? "metrics.jsonl: 4 step records and the evaluation"
[ "$(head -c 8 $R/samples.png | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]
ok $? "samples.png is a PNG"
grep -q 'langevin_steps' $R/samples.png && grep -q 'checkpoint' $R/samples.png
ok $? "samples.png carries its settings in tEXt chunks"

run 0 "info" "$CDRL" info $R/model.safetensors
grep -q '^step  *20$' "$T/out" && grep -q '^tensors:' "$T/out" && grep -q 'ebm.temb_map1.weight_orig  *64x16  *1024' "$T/out"
ok $? "info: step, tensor table with shapes"

run 0 "sample" "$CDRL" sample --model $R -n 300 -o $T/s.csv --png $T/s.png --seed 3 -t 1
[ "$(head -1 $T/s.csv)" = "x,y" ] && [ "$(wc -l <$T/s.csv)" -eq 301 ] && [ -s $T/s.png ]
ok $? "sample: CSV header and 300 rows, PNG"

run 0 "eval --json" "$CDRL" eval --model $R --json -n 300 -k 15,3 -t 1
[ "$(wc -l <"$T/out")" -eq 1 ] && grep -q '"nll":[-0-9]' "$T/out" && grep -q '"mmd":[-0-9]' "$T/out" &&
    grep -q '"mmd_data":[-0-9]' "$T/out" && grep -q '"entropy":4.85' "$T/out" && grep -q '"per_k":\[{"langevin_steps":15' "$T/out"
ok $? "eval --json: one object with nll, mmd, mmd_data, entropy, per_k"
if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["grid"]["converged"] in (True, False)' "$T/out"
    ok $? "eval --json parses as JSON"
fi
# The samples fed back as held-out points: points:FILE data.
run 0 "eval on points:FILE" "$CDRL" eval --model $R --data points:$T/s.csv --no-mmd -t 1
grep -q '^nll ' "$T/out"
ok $? "eval text output"

# ---------------------------------------------------------------------------------------
# --config and --set: every configuration field, applied in order (preset, file, --set, flags).
printf '{"lr_ebm": 0.002, "ema_ebm": 0.99, "n_levels": 4}\n' >$T/cfg.json
C=$T/cfgrun
run 0 "train with --config and --set" "$CDRL" train --out $C $TINY --iters 2 --no-eval \
    --config $T/cfg.json --set n_levels=3 --set langevin_ref_steps=30 --set step_b=2e-3 \
    --set lr_ebm=0.5 --lr-ebm 0.003
"$CDRL" info $C >$T/info
grep -q '^  n_levels  *3$' $T/info && grep -q '^  ema_ebm  *0.99' $T/info &&
    grep -q '^  langevin_ref_steps  *30$' $T/info && grep -q '^  step_b  *0.002$' $T/info &&
    grep -q '^  lr_ebm  *0.003' $T/info
ok $? "the checkpoint holds the file's, the --set and the flag's values, the later winning"
# --backend: the reference backend trains and samples the same model as the cpu one, to float
# rounding; an unknown name is a usage error.
run 2 "--backend of an unknown name" "$CDRL" train --out $T/x $TINY --backend gpu
one_line "backend 'gpu' unknown (cpu, ref)"
for be in cpu ref; do
    run 0 "train 3 steps on the $be backend" "$CDRL" train --out $T/be_$be $TINY --iters 3 \
        --no-eval --backend $be
    run 0 "sample on the $be backend" "$CDRL" sample --model $T/be_cpu -n 50 -k 5 \
        -o $T/be_$be.csv --backend $be
done
paste -d, $T/be_cpu.csv $T/be_ref.csv | awk -F, 'NR > 1 { d = $1 - $3; if (d < 0) d = -d;
    e = $2 - $4; if (e < 0) e = -e; if (d > m) m = d; if (e > m) m = e } END { exit !(m < 1e-3) }'
ok $? "samples of one model on the cpu and ref backends agree to 1e-3"
"$CDRL" info $T/be_ref | tail -n +2 >$T/info_ref && "$CDRL" info $T/be_cpu | tail -n +2 >$T/info_cpu
cmp -s $T/info_ref $T/info_cpu
ok $? "both backends train the same configuration"

run 2 "--set of an unknown field" "$CDRL" train --out $T/x $TINY --set ebm_width=3
one_line "no field 'ebm_width'"
run 2 "--set of a wrong type" "$CDRL" train --out $T/x $TINY --set n_levels=2.5
one_line "'n_levels' cannot be '2.5' (an integer)"
run 2 "--set without =" "$CDRL" train --out $T/x $TINY --set n_levels
one_line "expected KEY=VALUE"
echo '{"n_levels": "six"}' >$T/badcfg.json
run 2 "--config with a wrong type" "$CDRL" train --out $T/x $TINY --config $T/badcfg.json
one_line "--config $T/badcfg.json: not a configuration: configuration: 'n_levels' has the wrong type"
run 2 "--config of a missing file" "$CDRL" train --out $T/x $TINY --config $T/nope.json
one_line "--config $T/nope.json: cannot read the file"

# ---------------------------------------------------------------------------------------
# Checkpoint errors: exit 1 and one line; the checkpoint is never touched on refusal.
head -c 1000 $R/model.safetensors >$T/trunc.safetensors
run 1 "truncated checkpoint" "$CDRL" info $T/trunc.safetensors
one_line "$T/trunc.safetensors"
echo "not a checkpoint" >$T/garbage.safetensors
run 1 "garbage checkpoint" "$CDRL" eval --model $T/garbage.safetensors
one_line "$T/garbage.safetensors"
before=$(sum $R/model.safetensors)
run 1 "train over an existing checkpoint without --resume" "$CDRL" train --out $R $TINY --iters 30
one_line "--resume"
run 1 "resume with a conflicting --batch" "$CDRL" train --out $R --resume --batch 128 --iters 30 --threads 1
one_line "--batch 128 conflicts with the checkpoint"
[ "$(sum $R/model.safetensors)" = "$before" ]
ok $? "checkpoint unchanged after the refused resume"
run 1 "resume with a conflicting --set" "$CDRL" train --out $R --resume --set batch=32 --iters 30 --threads 1
one_line "--config/--set: batch 32 conflicts with the checkpoint"
[ "$(sum $R/model.safetensors)" = "$before" ]
ok $? "checkpoint unchanged after the refused --set resume"
# A record past the checkpoint (as a run that stopped after its last checkpoint leaves) is
# dropped on resume; steps then rise and time_s, the training clock, goes on from the last kept.
echo '{"step":29,"time_s":1e9}' >>$R/metrics.jsonl
run 0 "resume to 30 steps" "$CDRL" train --out $R --resume --iters 30 --threads 1 --eval-n 200 --no-eval
"$CDRL" info $R | grep -q '^step  *30$'
ok $? "resumed checkpoint at step 30"
sed -n 's/^{"step":\([0-9]*\),.*"time_s":\([0-9.e+-]*\).*/\1 \2/p' $R/metrics.jsonl |
    awk 'NR > 1 && ($1 <= s || $2 < t || $2 >= 1e9) { bad = 1 } { s = $1; t = $2 } END { exit bad || NR < 3 }'
ok $? "metrics.jsonl after the resume: rising steps, a continuing clock, the stray record gone"

# ---------------------------------------------------------------------------------------
# Divergence: the trainer's NaN/Inf check stops the run; nothing diverged is saved.
D=$T/div
awk 'BEGIN { print "x,y"; for (i = 0; i < 200; i++) printf "%g,%g\n", (i % 17) - 8, (i % 13) - 6 }' >$T/points.csv
run 0 "train 10 steps on points" "$CDRL" train --data points:$T/points.csv --out $D $TINY --iters 10 --no-eval
before=$(sum $D/model.safetensors)
awk 'BEGIN { print "x,y"; for (i = 0; i < 200; i++) print "1e30,-1e30" }' >$T/points.csv
run 1 "resume on points of 1e30 diverges" "$CDRL" train --out $D --resume --iters 20 --threads 1 --no-eval
one_line "diverged at step 11"
[ "$(sum $D/model.safetensors)" = "$before" ]
ok $? "last good checkpoint unchanged after the divergence"
run 1 "--lr-ebm 1e30 diverges" "$CDRL" train --out $T/lr --lr-ebm 1e30 --ckpt-every 1 $TINY --iters 20
one_line "diverged at step"
"$CDRL" info $T/lr >"$T/out" 2>"$T/err"
ok $? "the last good checkpoint of the --lr-ebm run loads"

# ---------------------------------------------------------------------------------------
# Labels: a labelled CSV (quadrant of the point, and a colour), --labels, composition,
# out-of-distribution scores and inpainting of a coordinate.
L=$T/lab
awk 'BEGIN { print "x,y,quadrant,colour"; for (i = 0; i < 400; i++) {
    x = (i % 19) - 9 + 0.5; y = (i % 23) - 11 + 0.5;
    printf "%g,%g,%d,%d\n", x, y, (x > 0) ? ((y > 0) ? 0 : 3) : ((y > 0) ? 1 : 2), i % 3 } }' >$T/lab.csv
run 0 "train --labels on a labelled CSV" "$CDRL" train --data points:$T/lab.csv --labels --out $L \
    $TINY --iters 6 --no-eval
"$CDRL" info $L | grep -q "more_classes  *3$" && "$CDRL" info $L | grep -q "n_classes  *4$"
ok $? "the model takes quadrant (4 classes) and colour (3)"
run 0 "sample --compose quadrant=1,colour=2 -w 2,1" "$CDRL" sample -m $L --compose quadrant=1,colour=2 \
    -w 2,1 -n 50 -o $T/comp.csv -t 1
[ "$(wc -l <$T/comp.csv)" -eq 51 ]
ok $? "50 composed samples"
run 0 "eval --compose" "$CDRL" eval -m $L --compose quadrant=0,colour=1 -n 40 -t 1
grep -q "^inside " $T/out && grep -q "^mmd " $T/out && grep -q "^mmd_data " $T/out
ok $? "eval --compose: inside share, MMD and its noise floor"
run 0 "eval --guidance 0,2 on a 2-D conditional model" "$CDRL" eval -m $L --guidance 0,2 -n 40 \
    --grid-max 128 -t 1
[ "$(grep -cE '^ +[02] +[0-9.]+ +[0-9.]+$' $T/out)" -eq 2 ]
ok $? "2-D guidance sweep: the conditional NLL and the right-class share per w"
run 2 "--compose with an unknown attribute" "$CDRL" sample -m $L --compose size=1 -n 5 -t 1
one_line "no attribute 'size' (the data has: quadrant, colour)"
run 2 "--compose with a class out of range" "$CDRL" sample -m $L --compose colour=3 -n 5 -t 1
one_line "classes of colour are 0..2"
run 2 "--compose with two weights for three terms" "$CDRL" sample -m $L \
    --compose quadrant=0,colour=1,quadrant=2 -w 1,2 -n 5 -t 1
one_line "one per --compose term (3)"
run 2 "--compose on an unconditional model" "$CDRL" sample -m $R --compose quadrant=1 -n 5 -t 1
one_line "the model is unconditional"
run 1 "--labels on data without labels" "$CDRL" train --data swissroll --labels --out $T/nolab \
    $TINY --iters 1 --no-eval
one_line "has no labels"
run 0 "ood: the data against points off the support" "$CDRL" ood -m $R --in checkerboard \
    --out off-support -n 200 -t 1
[ "$(grep -c '^EBM f, level' $T/out)" -eq 6 ]
ok $? "ood on 2-D: a row per level"
run 0 "inpaint 2-D: the x coordinate known" "$CDRL" inpaint -m $R --data checkerboard \
    --mask-kind x -n 50 -t 1
grep -q "known values changed: 0" $T/out
ok $? "inpaint 2-D: the known coordinate kept exactly"

# ---------------------------------------------------------------------------------------
# Ctrl-C: SIGINT ends the current step, saves, exits 130; SIGTERM (kill) likewise.
for sig in INT TERM; do
    C=$T/int_$sig
    "$CDRL" train --out $C $TINY --iters 100000000 --ckpt-every 0 --log-every 1 >"$T/int.out" 2>"$T/err" &
    pid=$!
    i=0 # wait until training runs (the handler is installed before the first step)
    while [ $i -lt 300 ] && ! grep -q '"step":' $C/metrics.jsonl 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
    kill -$sig $pid
    i=0
    while [ $i -lt 300 ] && kill -0 $pid 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
    kill -0 $pid 2>/dev/null && kill -KILL $pid
    wait $pid
    rc=$?
    [ $rc -eq 130 ]
    ok $? "SIG$sig: exit $rc, want 130"
    one_line "interrupted at step"
    run 0 "info reads the checkpoint written on SIG$sig" "$CDRL" info $C
done

echo "test_cli: $checks checks, $failed failed"
[ $failed -eq 0 ]
