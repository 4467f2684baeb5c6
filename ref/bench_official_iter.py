"""Seconds per training iteration of the OFFICIAL CDRL image code (github.com/AlvinZhuyx/CDRL)
at the reduced configuration of bench/bench_image.c: the body of main_uncond.py's training loop,
run on CPU by the machinery of ref/official_image_iter.py (which reads the official files when
it runs and copies nothing), beside the twin and cdrl in bench/image_vs_twin.sh.

    OMP_WAIT_POLICY=passive /usr/bin/python3 ref/bench_official_iter.py /path/to/CDRL [--threads 2]

Reduced configuration, as ref/bench_image_twin.py: grey 32x32, batch 64; the official EBM with
base width (temb_dim) 32, 2 blocks per level, multipliers (1, 2, 2, 2); the official Unet with
width 32, dim_mults (1, 1, 1), 3 ResBlocks, attention at 16 and 8, dropout 0.1; K 15; the
official script's own schedule, step sizes, optimizers, warm-up and EMA. Random images in
[-1, 1] (the content does not change the time). Timing: median of --iters iterations after
--warmup untimed ones. Prints one JSON line.
"""
import argparse
import json
import os
import statistics
import sys
import time
import types

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import official_image_iter as oi  # noqa: E402

B, K, RES, IN_CH = 64, 15, 32, 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("official", help="a checkout of the official repository")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--iters", type=int, default=3)
    a = ap.parse_args()
    off = os.path.abspath(a.official)
    if not os.path.isfile(os.path.join(off, "main_uncond.py")):
        sys.exit(f"{off}: no main_uncond.py (want a checkout of the official repository)")
    torch.set_num_threads(a.threads)
    oi.install_shims()
    sys.path.insert(0, off)
    oi.OVERRIDES.update(n_updates=K, c=IN_CH, im_sz=RES, batch_size=B, pi_lr=1e-4, p_lr=1e-5,
                        warmup_steps=10000)
    ns, setup, body, EBM, Unet = oi.official_namespace(off, "main_uncond.py")
    torch.manual_seed(1)
    pi = EBM(ch_mult=(1, 2, 2, 2), in_channel=IN_CH, temb_dim=32, n_blocks=2, add_q=ns["add_q"],
             use_sn=ns["with_sn"], act_fn=ns["ebm_act"])
    p = Unet(dim=32, dim_mults=(1, 1, 1), channels=IN_CH, im_sz=RES, attn_resolutions=[16, 8],
             num_res_blocks=3, dropout=0.1, num_heads=1, tanh_out=False, residual=True)
    pi.train()
    p.train()

    def batches():
        while True:
            yield torch.rand(B, IN_CH, RES, RES) * 2 - 1, torch.zeros(B, dtype=torch.long)
    ns.update(pi=pi, p=p, device=torch.device("cpu"), train_iter=batches(), trainloader=None,
              train_sampler=None, real_m=None, real_s=None, img_dir=None, ckpt_dir=None,
              fid=1e4, fid_best=1e4, args=types.SimpleNamespace(local_rank=0))
    exec(setup, ns)
    times = []
    for it in range(a.warmup + a.iters):
        ns["counter"] = it + 1
        t0 = time.perf_counter()
        exec(body, ns)
        if it >= a.warmup:
            times.append(time.perf_counter() - t0)
    print(json.dumps({"bench": "official_train_iter", "torch": torch.__version__,
                      "threads": a.threads, "batch": B, "K": K, "res": RES, "in_ch": IN_CH,
                      "T": ns["n_interval"], "s_per_iter_median": round(statistics.median(times), 4),
                      "s_per_iter_min": round(min(times), 4), "n": a.iters}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
