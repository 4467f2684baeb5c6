"""Seconds per training iteration of the PyTorch toy twin (ref/toy_twin.py) in the official toy
configuration (EBM ch 128, initializer h 64 / t 128, K 15 Langevin steps, official learning
rates), at batch 256 and at the official batch 2500: median over --iters timed iterations after
--warmup untimed ones, on torch.set_num_threads(--threads) (2 by default). Prints one JSON line.

Run from the repository root as:
    OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=passive /usr/bin/python3 ref/bench_toy_twin.py
Debian's torch does its GEMMs in OpenBLAS; OPENBLAS_CORETYPE picks its kernels. SkylakeX needs
AVX-512: on a CPU without it (e.g. this project's Zen 4 VM, whose AVX-512 is not exposed) it
dies with SIGILL, so the script stops first and says so; there use OPENBLAS_CORETYPE=Haswell
(what OpenBLAS picks by itself on that VM; Zen was no faster).
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import toy_twin as tw  # noqa: E402


def cpu_has(flag):
    try:
        with open("/proc/cpuinfo") as f:
            return any(flag in line.split() for line in f if line.startswith("flags"))
    except OSError:
        return True  # cannot tell: let OpenBLAS decide


def bench_batch(batch, n_warmup, n_iters, seed=1):
    cfg = tw.ToyConfig()  # the official toy configuration
    state = tw.ToyState(cfg, seed=seed)
    rng = np.random.default_rng(seed)
    data = tw.checkerboard(50000, rng)
    g = torch.Generator().manual_seed(seed)
    times = []
    for it in range(n_warmup + n_iters):
        x = data[torch.from_numpy(rng.choice(len(data), size=batch, replace=False))]
        noise = tw.draw_noise(cfg, batch, g)
        t0 = time.perf_counter()
        tw.train_step(state, x, noise)
        if it >= n_warmup:
            times.append(time.perf_counter() - t0)
    return {"batch": batch, "s_per_iter_median": round(statistics.median(times), 4),
            "s_per_iter_min": round(min(times), 4), "n": n_iters}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", default="256,2500")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    coretype = os.environ.get("OPENBLAS_CORETYPE", "")
    if coretype.lower() == "skylakex" and not cpu_has("avx512f"):
        print("OPENBLAS_CORETYPE=SkylakeX needs AVX-512, which this CPU does not expose "
              "(OpenBLAS would die with SIGILL).\n---> HINT: run with OPENBLAS_CORETYPE=Haswell",
              file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    results = [bench_batch(int(b), a.warmup, a.iters) for b in a.batches.split(",")]
    print(json.dumps({"bench": "toy_twin_train_iter", "torch": torch.__version__,
                      "threads": a.threads, "OPENBLAS_CORETYPE": coretype,
                      "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", ""),
                      "K": 15, "ch": 128, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
