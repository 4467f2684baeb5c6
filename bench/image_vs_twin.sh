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
#
# ROUNDS=N (default 1) runs the three programs N times in turn (cdrl, twin, official, cdrl, ...)
# and prints each round's ratios, their medians, and the ratios of each program's best round:
# on a shared host a single run strays by 15-30%, and the programs take turns so that a slow
# spell falls on all of them alike.
set -e
make -s build/bench/bench_image
core=Haswell
grep -q avx512f /proc/cpuinfo && core=SkylakeX
export OMP_WAIT_POLICY=passive GOMP_SPINCOUNT=1000
rounds=${ROUNDS:-1}
case $rounds in '' | *[!0-9]* | 0) echo "image_vs_twin: ROUNDS must be a positive number, not '$rounds'" >&2; exit 2 ;; esac
runs=$(mktemp)
trap 'rm -f "$runs"' EXIT
r=1
while [ "$r" -le "$rounds" ]; do
    echo "round $r, before: $(uptime)"
    ours=$(./build/bench/bench_image | head -n 1)
    twin=$(OPENBLAS_CORETYPE=$core /usr/bin/python3 ref/bench_image_twin.py --threads 2 | head -n 1)
    official='{}'
    if [ -n "${OFFICIAL:-}" ]; then
        official=$(OPENBLAS_CORETYPE=$core /usr/bin/python3 ref/bench_official_iter.py "$OFFICIAL" --threads 2 2>/dev/null | tail -n 1)
    fi
    echo "round $r, after:  $(uptime)"
    echo "cdrl: $ours"
    echo "twin: $twin"
    [ -n "${OFFICIAL:-}" ] && echo "official: $official"
    printf '%s\t%s\t%s\n' "$ours" "$twin" "$official" >>"$runs"
    r=$((r + 1))
done
/usr/bin/python3 - "$runs" <<'PY'
import json, statistics, sys
rounds = [[json.loads(c) for c in line.rstrip("\n").split("\t")] for line in open(sys.argv[1])]

def ratios(o, t, f):
    best = min(t['s_per_iter_median'], f['s_per_iter_median']) if f else None
    return {'vs_faster': best / o['s_per_iter_median'] if f else None,
            'vs_twin': t['s_per_iter_median'] / o['s_per_iter_median'],
            'sampling': o['images_per_s'] / t['images_per_s']}

for i, (o, t, f) in enumerate(rounds, 1):
    r = ratios(o, t, f)
    head = f"round {i}: " if len(rounds) > 1 else ""
    if f:
        print(f"{head}train: official {f['s_per_iter_median']:.3f} s/it, twin {t['s_per_iter_median']:.3f} s/it, "
              f"cdrl is {r['vs_faster']:.2f}x faster than the faster of the two")
    print(f"{head}train, batch {o['batch']}: cdrl {o['s_per_iter_median']:.3f} s/it, twin {t['s_per_iter_median']:.3f} s/it, "
          f"cdrl is {r['vs_twin']:.2f}x faster")
    print(f"{head}sampling: cdrl {o['images_per_s']:.2f} images/s ({o['sample_n']}), twin {t['images_per_s']:.2f} images/s "
          f"({t['sample_n']}), cdrl is {r['sampling']:.2f}x faster")
o, t, f = rounds[-1]
print(f"memory: cdrl peak RSS {o['peak_rss_mib']:.0f} MiB (training {o['peak_rss_train_mib']:.0f} MiB, "
      f"{o['rss_before_model_mib']:.0f} MiB before the model was made: the data set), "
      f"twin peak RSS {t['peak_rss_mib']:.0f} MiB")
if len(rounds) > 1:
    rs = [ratios(*x) for x in rounds]
    has_f = all(x[2] for x in rounds)
    med = {k: statistics.median(r[k] for r in rs) for k in ('vs_twin', 'sampling')}
    print(f"medians over {len(rounds)} rounds: train {med['vs_twin']:.2f}x the twin"
          + (f", {statistics.median(r['vs_faster'] for r in rs):.2f}x the faster of the two" if has_f else "")
          + f"; sampling {med['sampling']:.2f}x the twin")
    best_o = min(x[0]['s_per_iter_median'] for x in rounds)
    best_t = min(x[1]['s_per_iter_median'] for x in rounds)
    line = (f"best rounds: train cdrl {best_o:.3f} s/it, twin {best_t:.3f} s/it ({best_t / best_o:.2f}x)")
    if has_f:
        best_f = min(x[2]['s_per_iter_median'] for x in rounds)
        line += f", official {best_f:.3f} s/it ({min(best_t, best_f) / best_o:.2f}x the faster)"
    best_oi = max(x[0]['images_per_s'] for x in rounds)
    best_ti = max(x[1]['images_per_s'] for x in rounds)
    print(line + f"; sampling cdrl {best_oi:.2f} images/s, twin {best_ti:.2f} ({best_oi / best_ti:.2f}x)")
PY
