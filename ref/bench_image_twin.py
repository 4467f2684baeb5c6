"""Seconds per CDRL training iteration of the PyTorch image twin at the reduced configuration of
bench/bench_image.c, and images per second through its sampling chain: the same measurement
on the same networks, for bench/image_vs_twin.sh. Prints one JSON line and a readable line.

Reduced configuration: grey 32x32, batch 64; EBM img_twin.ImgEBM(ch 32, 2 blocks per level,
multipliers (1, 2, 2, 2)); U-Net unet_twin.Unet(width 32, dim_mults (1, 1, 1): levels at
32/16/8, 3 ResBlocks, attention at 16 and 8, dropout 0.1); T 6, K 15, image step constants
(b = 2e-4, C_j = sqrt(1-g_{j-1}) / sqrt(1-g_0) per pair). The iteration is method.md §4.1:
shared noise eps for x_j and x_{j-1}, F+ in train mode (SN power iteration), the U-Net proposal
in train mode (dropout on), 15 Langevin steps with the EBM in eval mode, F- in eval mode, Adam
(EBM) and AdamW (U-Net) with clipping to norm 1, warm-up LR schedules and EMA updates; random
horizontal flips of the batch as the official CIFAR-10 run. Timing: median over --iters timed
iterations after --warmup untimed ones (the random draws are made outside the timed region).
Sampling: --sample-n images from N(0, I) through the 6 levels with the EMA weights (both nets
in eval mode) and the final Tweedie step (§6). Memory: the process's peak RSS (getrusage).

Tuned as bench/toy_vs_twin.sh tunes the toy twin: torch.set_num_threads(2) (--threads), and
run from the repository root as
    OMP_WAIT_POLICY=passive OPENBLAS_CORETYPE=Haswell /usr/bin/python3 ref/bench_image_twin.py
OMP_WAIT_POLICY=passive stops idle OpenMP threads from spinning against the other process on
2 cores; OPENBLAS_CORETYPE=Haswell picks OpenBLAS's AVX2 kernels on this CPU, which does not
expose AVX-512 (SkylakeX there dies with SIGILL; use it only where /proc/cpuinfo has avx512f).
Convolutions go through torch's oneDNN (MKL-DNN) backend either way. The time path (sinusoid
and embedding MLP) of the EBM is computed once per Langevin chain, as the C sampler does.
Data: random images in [-1, 1] (the content does not change the time of an iteration).
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import img_twin  # noqa: E402
import toy_twin  # noqa: E402
import unet_twin  # noqa: E402

T, K, B_STEP, BATCH, RES = 6, 15, 2e-4, 64, 32


class ImageSchedule:
    """Per-level (0..T) and per-pair (1..T) float32 constants, formed in double as in
    toy_twin.ToySchedule but with the image step scale C_j per pair (method.md §1.2, §2.2)."""

    def __init__(self, logsnr_min=-5.1, logsnr_max=9.8, b=B_STEP):
        def sig(z):
            return 1.0 / (1.0 + math.exp(-z))

        Bc = math.atan(math.exp(-logsnr_max / 2))
        A = math.atan(math.exp(-logsnr_min / 2)) - Bc
        lam = [-2.0 * math.log(math.tan(A * j / T + Bc)) for j in range(T + 1)]
        g = [sig(v) for v in lam]
        noise = [sig(-v) for v in lam]
        tau = [1000.0 * (2.0 / math.pi) * math.atan(math.exp(-min(20.0, max(-20.0, v)) / 2))
               for v in lam]
        C = [0.0] + [math.sqrt(noise[j - 1]) / math.sqrt(noise[0]) for j in range(1, T + 1)]
        r = [0.0] + [g[j] / g[j - 1] for j in range(1, T + 1)]
        kappa = [0.0] + [r[j] if j < T else 1.0 for j in range(1, T + 1)]
        sigma2 = [0.0] + [1.0 - r[j] for j in range(1, T + 1)]
        beta_t = [0.0] + [noise[j - 1] / noise[j] * sigma2[j] for j in range(1, T + 1)]

        def f32(v):
            return torch.tensor(v, dtype=torch.float64).float()

        self.sqrt_g = f32([math.sqrt(v) for v in g])
        self.sqrt_1mg = f32([math.sqrt(v) for v in noise])
        self.tau = f32(tau)
        self.sqrt_kappa = f32([math.sqrt(v) for v in kappa])
        self.sqrt_h = f32([math.sqrt(2.0 * b * C[j] * sigma2[j]) for j in range(T + 1)])
        self.tether = f32([0.0] + [b * C[j] if j < T else 0.0 for j in range(1, T + 1)])
        self.init_std = f32([math.sqrt(beta_t[j] * kappa[j]) for j in range(T + 1)])
        self.loss_w = f32([0.0] + [math.sqrt(sigma2[1] / sigma2[j]) for j in range(1, T + 1)])
        # final Tweedie step (§6): x0 = (x + (1-g_0) grad f(sqrt(kappa_1) x) / D) / sqrt(g_0)
        self.tweedie_mul = noise[0] / (b * C[1] * sigma2[1])
        self.inv_sqrt_g0 = 1.0 / math.sqrt(g[0])


def ebm_body(ebm, y, e):
    """img_twin.ImgEBM.forward after its embedding e (computed once per chain)."""
    h = ebm.module_list[0](y)
    for layer in ebm.module_list[1:]:
        h = layer(h, e) if isinstance(layer, img_twin.EBMBlock) else layer(h)
    v = F.relu(h).sum(dim=(2, 3))
    return (v * ebm.temb_final(img_twin.lrelu(e))).sum(dim=1)


def langevin(ebm, y0, x_j, tau_prev, tether, sqrt_h, xi):
    """len(xi) steps y <- y + 0.5 grad_y G + sqrt_h xi[k], G = f(y, tau_prev) - tether ||y - x_j||^2,
    EBM in eval mode, input gradients only. Returns y^K detached."""
    assert not ebm.training
    with torch.no_grad():
        e = ebm.embed(tau_prev)
    sqrt_h, tether = sqrt_h[:, None, None, None], tether[:, None, None, None]
    y = y0.detach().clone()
    for k in range(xi.shape[0]):
        y.requires_grad_(True)
        G = ebm_body(ebm, y, e).sum() - (((y - x_j) ** 2) * tether).sum()
        grad, = torch.autograd.grad(G, [y])
        y = y.detach() + 0.5 * grad + sqrt_h * xi[k]
    return y.detach()


class State:
    def __init__(self, seed=1):
        torch.manual_seed(seed)
        self.s = ImageSchedule()
        self.ebm = img_twin.ImgEBM(in_ch=1, ch=32, temb_dim=32, ch_mult=(1, 2, 2, 2), n_blocks=2)
        self.gen = unet_twin.Unet(1, RES, 32, (1, 1, 1), 3, (16, 8), 0.1, 0)
        self.opt_ebm = torch.optim.Adam(self.ebm.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
        self.opt_gen = torch.optim.AdamW(self.gen.parameters(), lr=1e-5, betas=(0.9, 0.999),
                                         eps=1e-8, weight_decay=0.0)
        self.lr_ebm = torch.optim.lr_scheduler.LambdaLR(
            self.opt_ebm, lambda k: min(1.0, k / 10000.0))
        self.lr_gen = torch.optim.lr_scheduler.LambdaLR(
            self.opt_gen, lambda k: min(1.0, (k + 500) / 10000.0))
        self.ema_ebm = toy_twin.EMA(self.ebm.parameters(), 0.9999)
        self.ema_gen = toy_twin.EMA(self.gen.parameters(), 0.9999)


def draw(B, g):
    """The batch (random flips applied) and every random draw of one iteration."""
    x = torch.rand(B, 1, RES, RES, generator=g) * 2 - 1
    flip = torch.rand(B, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x, {"j": torch.randint(1, T + 1, (B,), generator=g),
               "eps": torch.randn(B, 1, RES, RES, generator=g),
               "xi_init": torch.randn(B, 1, RES, RES, generator=g),
               "xi_langevin": torch.randn(K, B, 1, RES, RES, generator=g)}


def train_step(st, x, nz):
    s, ebm, gen = st.s, st.ebm, st.gen
    j = nz["j"]
    col = lambda v: v[:, None, None, None]  # noqa: E731
    x_j = col(s.sqrt_g[j]) * x + col(s.sqrt_1mg[j]) * nz["eps"]
    x_prev = col(s.sqrt_g[j - 1]) * x + col(s.sqrt_1mg[j - 1]) * nz["eps"]
    sk = col(s.sqrt_kappa[j])
    tau_prev, tau_j, w = s.tau[j - 1], s.tau[j], s.loss_w[j]
    st.opt_ebm.zero_grad(set_to_none=True)
    st.opt_gen.zero_grad(set_to_none=True)
    ebm.train()                                            # (1) F+, SN power iteration
    f_pos = ebm(x_prev * sk, tau_prev)
    (-(f_pos * w).mean()).backward()
    gen.train()                                            # (2) proposal, dropout on
    y0 = gen(x_j, tau_j) + col(s.init_std[j]) * nz["xi_init"]
    ebm.eval()                                             # (3) Langevin
    y = langevin(ebm, y0, x_j, tau_prev, s.tether[j], s.sqrt_h[j], nz["xi_langevin"])
    x_neg = y / (sk + 1e-8)
    f_neg = ebm(x_neg * sk, tau_prev)                      # (4) F-
    ((f_neg * w).mean()).backward()
    torch.nn.utils.clip_grad_norm_(ebm.parameters(), 1.0)  # (5) EBM update
    st.opt_ebm.step()
    st.lr_ebm.step()
    st.ema_ebm.update(ebm.parameters())
    loss_gen = ((x_neg * sk - y0) ** 2).sum(dim=(1, 2, 3)).mean()  # (6) initializer update
    loss_gen.backward()
    torch.nn.utils.clip_grad_norm_(gen.parameters(), 1.0)
    st.opt_gen.step()
    st.lr_gen.step()
    st.ema_gen.update(gen.parameters())


@torch.no_grad()
def sample(st, n, g):
    """n images through the chain with the EMA weights, then the Tweedie step (§6)."""
    s, ebm, gen = st.s, st.ebm, st.gen
    pe, pg = list(ebm.parameters()), list(gen.parameters())
    st.ema_ebm.swap(pe)
    st.ema_gen.swap(pg)
    ebm.eval()
    gen.eval()
    x = torch.randn(n, 1, RES, RES, generator=g)
    for j in range(T, 0, -1):
        jj = torch.full((n,), j, dtype=torch.long)
        y0 = gen(x, s.tau[jj]) + s.init_std[j] * torch.randn(n, 1, RES, RES, generator=g)
        with torch.enable_grad():
            y = langevin(ebm, y0, x, s.tau[jj - 1], s.tether[jj], s.sqrt_h[jj],
                         torch.randn(K, n, 1, RES, RES, generator=g))
        x = y / (s.sqrt_kappa[j] + 1e-8)
    with torch.enable_grad():
        xr = x.detach().requires_grad_(True)
        f = ebm(xr * s.sqrt_kappa[1], s.tau[torch.zeros(n, dtype=torch.long)])
        grad, = torch.autograd.grad(f.sum(), [xr])
    x0 = (x + s.tweedie_mul * grad) * s.inv_sqrt_g0
    st.ema_ebm.swap(pe)
    st.ema_gen.swap(pg)
    return x0


def cpu_has(flag):
    try:
        with open("/proc/cpuinfo") as f:
            return any(flag in line.split() for line in f if line.startswith("flags"))
    except OSError:
        return True  # cannot tell: let OpenBLAS decide


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--sample-n", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    coretype = os.environ.get("OPENBLAS_CORETYPE", "")
    if coretype.lower() == "skylakex" and not cpu_has("avx512f"):
        print("OPENBLAS_CORETYPE=SkylakeX needs AVX-512, which this CPU does not expose.\n"
              "---> HINT: run with OPENBLAS_CORETYPE=Haswell", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    st = State(seed=1)
    g = torch.Generator().manual_seed(1)
    times = []
    for it in range(a.warmup + a.iters):
        x, nz = draw(BATCH, g)
        t0 = time.perf_counter()
        train_step(st, x, nz)
        if it >= a.warmup:
            times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    x0 = sample(st, a.sample_n, g)
    t_sample = time.perf_counter() - t0
    assert torch.isfinite(x0).all()
    med = statistics.median(times)
    print(json.dumps({"bench": "image_twin_train_iter", "torch": torch.__version__,
                      "threads": a.threads, "OPENBLAS_CORETYPE": coretype,
                      "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", ""),
                      "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT", ""),
                      "batch": BATCH, "K": K, "ebm_ch": 32, "ebm_blocks": 2, "unet_dim": 32,
                      "res": RES, "in_ch": 1, "s_per_iter_median": round(med, 4),
                      "s_per_iter_min": round(min(times), 4), "n": a.iters,
                      "sample_n": a.sample_n, "sample_s": round(t_sample, 3),
                      "images_per_s": round(a.sample_n / t_sample, 3),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
    print(f"twin image, {a.threads} threads: {med:.3f} s/iter (batch {BATCH}, median of "
          f"{a.iters}), sampling {a.sample_n / t_sample:.2f} images/s ({a.sample_n} through "
          f"the chain, EMA)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
