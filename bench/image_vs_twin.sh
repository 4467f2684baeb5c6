#!/bin/sh
# Image benchmark, reduced configuration (grey 32x32, batch 64, EBM width 32 with 2 blocks per
# level, U-Net width 32 with 3 levels, K 15): seconds per training iteration and images per
# second through the sampling chain (EMA weights), cdrl (bench_image) and the PyTorch twin
# (ref/bench_image_twin.py) one after the other in the same run, their ratios, and both peak
# memories (getrusage max RSS). All run with the wait the cdrl command sets for itself
# (src/cli/main.c): OMP_WAIT_POLICY=passive and GOMP_SPINCOUNT=1000, a short spin before
# sleeping. Threads that spin at every barrier while their partner is descheduled made cdrl
# 3x slower on 2 shared cores; the short spin is 7-10% faster than passive alone on a quiet
# machine, for the twin as much as for cdrl (docs/speed.md). The twin runs tuned: 2 threads, and
# OPENBLAS_CORETYPE=SkylakeX where the CPU has AVX-512 (Haswell otherwise: SkylakeX kernels die
# with SIGILL without it). About two and a half minutes on 2 cores; `uptime` before and after
# tells whether other jobs shared them. Needs python3-torch. Run from the repository root.
# With OFFICIAL=/path/to/CDRL (a checkout of the official repository) the official training
# step is timed too (ref/bench_official_iter.py, same threads and environment as the twin),
# and the training ratio that counts is against the faster of the two.
set -e
make -s build/bench/bench_image
core=Haswell
grep -q avx512f /proc/cpuinfo && core=SkylakeX
export OMP_WAIT_POLICY=passive GOMP_SPINCOUNT=1000
echo "before: $(uptime)"
ours=$(./build/bench/bench_image | head -n 1)
twin=$(OPENBLAS_CORETYPE=$core /usr/bin/python3 ref/bench_image_twin.py --threads 2 | head -n 1)
official='{}'
if [ -n "${OFFICIAL:-}" ]; then
    official=$(OPENBLAS_CORETYPE=$core /usr/bin/python3 ref/bench_official_iter.py "$OFFICIAL" --threads 2 2>/dev/null | tail -n 1)
fi
echo "after:  $(uptime)"
echo "cdrl: $ours"
echo "twin: $twin"
[ -n "${OFFICIAL:-}" ] && echo "official: $official"
/usr/bin/python3 - "$ours" "$twin" "$official" <<'PY'
import json, sys
o, t, f = (json.loads(a) for a in sys.argv[1:4])
if f:
    best = min(t['s_per_iter_median'], f['s_per_iter_median'])
    print(f"train: official {f['s_per_iter_median']:.3f} s/it, twin {t['s_per_iter_median']:.3f} s/it, "
          f"cdrl is {best / o['s_per_iter_median']:.2f}x faster than the faster of the two")
print(f"train, batch {o['batch']}: cdrl {o['s_per_iter_median']:.3f} s/it, twin {t['s_per_iter_median']:.3f} s/it, "
      f"cdrl is {t['s_per_iter_median'] / o['s_per_iter_median']:.2f}x faster")
print(f"sampling: cdrl {o['images_per_s']:.2f} images/s ({o['sample_n']}), twin {t['images_per_s']:.2f} images/s "
      f"({t['sample_n']}), cdrl is {o['images_per_s'] / t['images_per_s']:.2f}x faster")
print(f"memory: cdrl peak RSS {o['peak_rss_mib']:.0f} MiB (training {o['peak_rss_train_mib']:.0f} MiB, "
      f"{o['rss_before_model_mib']:.0f} MiB before the model was made: the data set), "
      f"twin peak RSS {t['peak_rss_mib']:.0f} MiB")
PY
