#!/bin/sh
# Seconds per training iteration, official toy configuration, batch 256 and 2500: cdrl
# (bench_toy) and the PyTorch twin (ref/bench_toy_twin.py) one after the other in the same
# run, and their ratio. The twin runs tuned: 2 threads, OMP_WAIT_POLICY=passive, and
# OPENBLAS_CORETYPE=SkylakeX where the CPU has AVX-512 (Haswell otherwise: SkylakeX kernels
# die with SIGILL without it). Needs python3-torch. Run from the repository root.
set -e
make -s build/bench/bench_toy
core=Haswell
grep -q avx512f /proc/cpuinfo && core=SkylakeX
ours=$(./build/bench/bench_toy)
twin=$(OPENBLAS_CORETYPE=$core OMP_WAIT_POLICY=passive /usr/bin/python3 ref/bench_toy_twin.py --threads 2)
echo "cdrl: $ours"
echo "twin: $twin"
/usr/bin/python3 - "$ours" "$twin" <<'PY'
import json, sys
ours, twin = (json.loads(a) for a in sys.argv[1:3])
t = {r["batch"]: r["s_per_iter_median"] for r in twin["results"]}
for r in ours["results"]:
    b = r["batch"]
    print(f"batch {b:5d}: cdrl {r['s_per_iter_median']:.4f} s/it, twin {t[b]:.4f} s/it, cdrl is {t[b] / r['s_per_iter_median']:.2f}x faster")
PY
