#!/bin/sh
# Kills `cdrl train` at random moments and checks that nothing is lost (docs/reliability.md):
#   sh scripts/kill_test.sh [TRIALS] [SIGNAL]      (default 20 KILL; also TERM, INT)
# A 2-D run of ITERS steps that saves its checkpoint every step (so that many kills land in
# the middle of a checkpoint write) is killed TRIALS times, each time after a random delay, and
# restarted with --resume; after every kill the checkpoint on disk must load. The run is then
# finished, and its weights (every tensor: weights, EMA copies, Adam moments, SN vectors) must
# equal those of the same run done in one go. With TERM or INT the run must also exit 130 after
# saving. Prints one line per trial and a summary; exits 1 on any failure.
TRIALS=${1:-20}
SIG=${2:-KILL}
CDRL=${CDRL:-./cdrl}
T=${KILL_TEST_DIR:-build/kill-test}
ITERS=${ITERS:-400}
ARGS="--data checkerboard --preset demo --iters $ITERS --no-eval -t 1 --log-every 1"
rm -rf "$T"
mkdir -p "$T"

"$CDRL" train $ARGS --ckpt-every 0 --out "$T/ref" >/dev/null 2>&1 || {
    echo "kill_test: the reference run failed"
    exit 1
}

fail=0
writes=0
trial=0
seed=12345
while [ "$trial" -lt "$TRIALS" ]; do
    trial=$((trial + 1))
    if [ -s "$T/run/model.safetensors" ]; then
        "$CDRL" train $ARGS --ckpt-every 1 --out "$T/run" --resume >"$T/out" 2>"$T/err" &
    else
        "$CDRL" train $ARGS --ckpt-every 1 --out "$T/run" --force >"$T/out" 2>"$T/err" &
    fi
    pid=$!
    # a delay of 0.05 .. 1.05 s from a small LCG, so that a failing trial can be repeated
    seed=$(((seed * 1103515245 + 12345) % 2147483648))
    ms=$((50 + seed % 1000))
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    kill -s "$SIG" "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
    mid=""
    if [ -e "$T/run/model.safetensors.tmp" ]; then # killed while writing a checkpoint
        mid=", mid-write"
        writes=$((writes + 1))
    fi
    step=none
    if [ -e "$T/run/model.safetensors" ]; then
        if step=$("$CDRL" info "$T/run" 2>/dev/null | awk '$1 == "step" {print $2}') && [ -n "$step" ]; then
            :
        else
            fail=$((fail + 1))
            echo "trial $trial: after $ms ms the checkpoint does not load"
            continue
        fi
    fi
    if [ "$SIG" != KILL ] && [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ]; then
        fail=$((fail + 1))
        echo "trial $trial: SIG$SIG after $ms ms: exit $rc, want 130"
        continue
    fi
    if [ "$SIG" != KILL ] && [ "$rc" -eq 130 ] && ! grep -q "interrupted at step $step;" "$T/err"; then
        fail=$((fail + 1))
        echo "trial $trial: SIG$SIG: the checkpoint is at step $step, not the step the message names"
        continue
    fi
    echo "trial $trial: SIG$SIG after $ms ms (exit $rc$mid), checkpoint at step $step"
done

"$CDRL" train $ARGS --ckpt-every 50 --out "$T/run" --resume >"$T/out" 2>"$T/err"
rc=$?
if [ "$rc" -ne 0 ]; then
    fail=$((fail + 1))
    echo "the final resume failed (exit $rc): $(head -1 "$T/err")"
elif cmp -s "$T/ref/model.safetensors" "$T/run/model.safetensors"; then
    echo "final: step $ITERS, every tensor equal to the uninterrupted run's"
else
    fail=$((fail + 1))
    echo "final: the weights differ from the uninterrupted run's"
fi
echo "kill_test: $TRIALS trials of SIG$SIG ($writes during a checkpoint write), $fail failed"
[ "$fail" -eq 0 ]
