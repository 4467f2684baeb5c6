#!/bin/sh
# Data-parallel scaling on this machine (docs/mpi.md): seconds per training iteration of a
# preset at one process (one thread; grad_chunks 1 and 2) and at P = 2 processes of one thread
# each (grad_chunks 2, the same bytes as the one-process run with 2 chunks), the one-process
# run at 2 threads beside them, the speed-up and efficiency, and the bytes each process sends
# per iteration against its compute. Needs the cores to itself.
#   sh bench/mpi_scaling.sh [PRESET] [ITERS]     (default fmnist-cpu 30)
set -e
PRESET=${1:-fmnist-cpu}
ITERS=${2:-30}
CDRL=${CDRL:-./cdrl}
T=${BENCH_DIR:-build/bench-mpi}
rm -rf "$T"
mkdir -p "$T"
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ARGS="--preset $PRESET --iters $ITERS --log-every 5 --fig-every 0 --no-eval --ckpt-every 0"

# Median ms per iteration of a run's metrics, its first record (warm-up) left out.
ms() {
    grep -o '"ms_per_it":[0-9.]*' "$1/metrics.jsonl" | cut -d: -f2 | tail -n +2 | sort -g |
        awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

echo "preset $PRESET, $ITERS iterations per run; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
"$CDRL" train $ARGS -t 1 --out "$T/p1c1" >/dev/null
"$CDRL" train $ARGS -t 1 --set grad_chunks=2 --out "$T/p1c2" >/dev/null
"$CDRL" train $ARGS -t 2 --set grad_chunks=2 --out "$T/p1t2" >/dev/null
mpirun -np 2 --bind-to core "$CDRL" train $ARGS -t 1 --set grad_chunks=2 --out "$T/p2" >/dev/null
cmp -s "$T/p1c2/model.safetensors" "$T/p2/model.safetensors" && same=yes || same=NO

c1=$(ms "$T/p1c1")
c2=$(ms "$T/p1c2")
t2=$(ms "$T/p1t2")
p2=$(ms "$T/p2")
floats=$("$CDRL" info "$T/p2" | awk '$1 ~ /^(ebm|init)\./ {n += $3} END {print n}')
batch=$("$CDRL" info "$T/p2" | awk '$1 == "batch" {print $2}')
awk -v c1="$c1" -v c2="$c2" -v t2="$t2" -v p2="$p2" -v f="$floats" -v b="$batch" -v same="$same" 'BEGIN {
    printf "1 process, 1 thread, 1 chunk       %8.0f ms/it\n", c1
    printf "1 process, 1 thread, 2 chunks      %8.0f ms/it  (chunking costs %.1f%%)\n", c2, 100 * (c2 / c1 - 1)
    printf "1 process, 2 threads, 2 chunks     %8.0f ms/it  (speed-up %.2f)\n", t2, c2 / t2
    printf "2 processes, 1 thread each         %8.0f ms/it  (speed-up %.2f, efficiency %.0f%%; same bytes as 1 process: %s)\n", p2, c2 / p2, 50 * c2 / p2, same
    mb = 2 * f * 4 / 1e6
    printf "gradient floats %d: each process sends and receives about %.1f MB per iteration (chain + broadcast),\n", f, mb
    printf "  %.0f ms at 10 Gbit/s, %.1f ms at 100 Gbit/s, against %.0f ms of compute per process (batch %d)\n", mb / 1250 * 1000, mb / 12500 * 1000, p2, b
}'
