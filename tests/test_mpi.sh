#!/bin/sh
# Data-parallel jobs under mpirun (README "Many processes"), when Open MPI is installed and cdrl
# is built with it (else one line says so and nothing runs):
# - build/tests/test_dist under -np 2 and -np 3 (chain sum, gathers, a NaN on one rank);
# - `cdrl train` gives the bytes of one process at P = 2, 3 and 4 (2-D) and P = 2, 3 (a small
#   Fashion-MNIST model), a job's default grad_chunks is P, resume at another P continues
#   identically;
# - `cdrl sample` (PNGs and grid) and `cdrl eval` (FD, accuracy) are the same at P = 1 and 2, 3;
# - a chain that runs away ends the job with one line naming the step and the rank; a rank killed
#   with SIGKILL ends the job, and the checkpoint on disk still loads.
# Writes only under $CLI_TEST_DIR/mpi.
CDRL=${CDRL:-./cdrl}
T=${CLI_TEST_DIR:-build/cli-test}/mpi
DIST=$(dirname "$CDRL")/tests/test_dist
[ -x "$DIST" ] || DIST=build/tests/test_dist
checks=0
failed=0

echo "mpi"
if ! command -v mpirun >/dev/null 2>&1 || ! ldd "$CDRL" | grep -q libmpi; then
    echo "  skipped: no mpirun, or $CDRL built without MPI (scripts/deps.sh installs Open MPI)"
    exit 0
fi
rm -rf "$T"
mkdir -p "$T"
. tests/cli_util.sh

# Open MPI refuses root unless told; CI containers run as root.
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN="mpirun --oversubscribe --mca btl self,vader"
# Under the sanitizers (make sanitize): Open MPI's own start-up allocations outlive MPI_Finalize
# and LeakSanitizer would count them; cdrl's leaks are checked by the one-process tests.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

for P in 2 3; do
    run 0 "test_dist under -np $P" $MPIRUN -np $P "$DIST"
done

# ---------------------------------------------------------------------------------------
# Training: the same bytes at any process count
TOY="--data checkerboard --preset demo --iters 20 --set grad_chunks=12 --no-eval -t 1"
run 0 "2-D, one process, 12 chunks" "$CDRL" train $TOY --out "$T/t1"
for P in 2 3 4; do
    run 0 "2-D, $P processes" $MPIRUN -np $P "$CDRL" train $TOY --out "$T/t$P"
    cmp -s "$T/t1/model.safetensors" "$T/t$P/model.safetensors"
    ok $? "2-D: $P processes give the bytes of one"
done
grep -q "processes  *4" "$T/out"
ok $? "the job prints its process count"

run 0 "2-D, 2 processes to step 10" $MPIRUN -np 2 "$CDRL" train $TOY --iters 10 --out "$T/r"
run 0 "resume at 3 processes to step 20" $MPIRUN -np 3 "$CDRL" train --resume --iters 20 \
    --out "$T/r" --no-eval -t 1
cmp -s "$T/t1/model.safetensors" "$T/r/model.safetensors"
ok $? "10 steps at P = 2, then 10 at P = 3: the bytes of 20 at P = 1"

run 0 "2-D, 2 processes, default chunks" $MPIRUN -np 2 "$CDRL" train --data checkerboard \
    --preset demo --iters 6 --no-eval -t 1 --out "$T/d2"
run 0 "one process, --set grad_chunks=2" "$CDRL" train --data checkerboard --preset demo \
    --iters 6 --no-eval -t 1 --set grad_chunks=2 --out "$T/d1"
"$CDRL" info "$T/d2" | grep -q "grad_chunks  *2$" &&
    cmp -s "$T/d1/model.safetensors" "$T/d2/model.safetensors"
ok $? "a job's chunks default to one per process, recorded, and one process repeats it"

IMG="--preset fmnist-cpu --iters 3 --batch 6 --ebm-ch 8 --set unet_dim=32 --set ebm_blocks=1 \
--fig-every 0 --no-eval -t 1 --set grad_chunks=3"
run 0 "images, one process, 3 chunks" "$CDRL" train $IMG --out "$T/i1"
for P in 2 3; do
    run 0 "images, $P processes" $MPIRUN -np $P "$CDRL" train $IMG --out "$T/i$P"
    cmp -s "$T/i1/model.safetensors" "$T/i$P/model.safetensors"
    ok $? "images: $P processes give the bytes of one"
done

# ---------------------------------------------------------------------------------------
# Sampling and evaluation split by batches
run 0 "sample, one process" "$CDRL" sample -m "$T/i1" -n 20 --grid "$T/g1.png" -o "$T/a_%02d.png" -t 1
run 0 "sample, 2 processes" $MPIRUN -np 2 "$CDRL" sample -m "$T/i1" -n 20 --grid "$T/g2.png" \
    -o "$T/b_%02d.png" -t 1
same=0
for i in 00 05 13 19; do cmp -s "$T/a_$i.png" "$T/b_$i.png" || same=1; done
cmp -s "$T/g1.png" "$T/g2.png" && [ "$same" -eq 0 ] && [ "$(ls "$T"/b_*.png | wc -l)" -eq 20 ]
ok $? "sample: the same 20 PNGs and grid at P = 1 and 2"

run 0 "eval, one process" "$CDRL" eval -m "$T/i1" -n 24 --guidance 0,1 -t 1
cp "$T/out" "$T/e1"
run 0 "eval, 3 processes" $MPIRUN -np 3 "$CDRL" eval -m "$T/i1" -n 24 --guidance 0,1 -t 1
cmp -s "$T/e1" "$T/out" && grep -q "accuracy" "$T/out"
ok $? "eval: the same FD and accuracy at P = 1 and 3"

# ---------------------------------------------------------------------------------------
# Failures
run 1 "a runaway chain" $MPIRUN -np 2 "$CDRL" train --data checkerboard --preset demo --iters 5 \
    --set step_b=1e3 --no-eval -t 1 --out "$T/nan"
[ "$(grep -c "diverged at step 1" "$T/err")" -eq 1 ] && grep -q "rank 0: training step 1" "$T/err" &&
    ! grep -q MPI_ABORT "$T/err"
ok $? "one line names the step and the rank, the job ends in order"

$MPIRUN -np 2 "$CDRL" train --data checkerboard --preset demo --iters 100000 --ckpt-every 5 \
    --no-eval -t 1 --out "$T/k" >"$T/out" 2>"$T/err" &
job=$!
for _ in $(seq 100); do [ -s "$T/k/model.safetensors" ] && break; sleep 0.2; done
victim=""
for p in $(pgrep -f "out $T/k"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q "^OMPI_COMM_WORLD_RANK=1$" && victim=$p
done
[ -n "$victim" ] && kill -9 "$victim"
ok $? "found and killed rank 1 ($victim)"
for _ in $(seq 150); do kill -0 $job 2>/dev/null || break; sleep 0.2; done
if kill -0 $job 2>/dev/null; then
    kill -9 $job
    ok 1 "the job ends within 30 s of the kill"
else
    wait $job
    [ $? -ne 0 ] && grep -q "rank 1" "$T/err"
    ok $? "the job ends with a non-zero status and a line naming rank 1"
fi
"$CDRL" info "$T/k" >/dev/null 2>&1
ok $? "the checkpoint on disk loads"

# SIGTERM to every rank (a batch system's time limit): rank 0 saves the step all agree on.
$MPIRUN -np 2 "$CDRL" train --data checkerboard --preset demo --iters 100000 --ckpt-every 0 \
    --log-every 1 --no-eval -t 1 --out "$T/s" >"$T/out" 2>"$T/err" &
job=$!
for _ in $(seq 100); do grep -q '"step":3,' "$T/s/metrics.jsonl" 2>/dev/null && break; sleep 0.2; done
for p in $(pgrep -f "out $T/s"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q "^OMPI_COMM_WORLD_RANK=" && kill -TERM "$p"
done
wait $job
rc=$?
step=$(sed -n 's/.*interrupted at step \([0-9]*\);.*/\1/p' "$T/err")
[ "$rc" -eq 130 ] && [ -n "$step" ] && "$CDRL" info "$T/s" | grep -q "^step  *$step$"
ok $? "SIGTERM: exit 130, the checkpoint holds the step of the message ($step)"

echo "test_mpi: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
