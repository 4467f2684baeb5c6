"""PyTorch twin of CDRL on 2-D toy data (method.md §1-§4, §5.6, §6): the toy EBM f(y, tau),
the toy initializer mu(x, tau), the logSNR schedule with the toy step-size constants, Langevin,
one training iteration with every random draw passed in, and the sampling chain. The C trainer
is checked against it (tests/fixtures/toy_train.safetensors, ref/fixtures_toy_train.py).
Left out: images, class conditioning, the final Tweedie step (the toy has none), Langevin
clipping, add_q, the non-shared-noise pairing. Runs with Debian's torch 1.13 (/usr/bin/python3).
Sanity run: /usr/bin/python3 ref/toy_twin.py --iters 2000 --png /tmp/toy.png

Conventions the C side follows (all tensors float32):
* Schedule constants are computed in double (as src/diffusion/schedule.c does) and rounded to
  float32 once: sqrt(g_j), sqrt(1-g_j), tau_j, sqrt(kappa_j), sqrt(h_j), tether b*C*[j<T],
  init std sqrt(beta~_j kappa_j), loss weight sigma_1/sigma_j. Arithmetic is then float32.
* The networks take tau = 1000*(2/pi)*atan(exp(-lambda/2)) (not lambda): the EBM of pair j
  gets tau_{j-1}, the initializer gets tau_j. The sinusoid's frequencies are
  exp(((float)k * (float)(-ln 10000)) / (half - 1)), k = 0..half-1, order [sin..., cos...].
  Use exactly these float32 tau: one ulp of tau (6e-5 near 950) moves the top pair's Langevin
  output (no tether there) by ~2e-3 at initial weights, and 10 steps' weights by ~1e-3.
* Noise of one iteration: j (B,) in 1..T; eps (B,2) shared by x_j and x_{j-1};
  xi_init (B,2) scaled by the initializer std; xi_langevin (K,B,2), row k is added after the
  drift of Langevin step k (k = 0..K-1, noise on every step including the last).

State-dict names: those of the official toy_example.py (so its checkpoints load as they are,
and src/models/toy_*.c registers the same), the canonical tensor names of cdrl's toy
checkpoints. Linear weights are (out, in) as torch stores them; every SN layer has
weight_orig, weight_u (out), weight_v (in), bias. E = 4*temb_dim, W_i = ch*ch_mult[.],
blocks i = 1..len(ch_mult)*n_blocks, W_in the previous width.
  EBM:  temb_map1.{weight_orig,weight_u,weight_v,bias}  (E, temb_dim)   SN
        temb_map2.{...}                                 (E, E)          SN
        module_list.0.{...}                             (ch, 2)         SN, input layer
        module_list.i.conv1.{...}                       (W_i, W_in)     SN
        module_list.i.conv2.{...}                       (W_i, W_i)      SN
        module_list.i.temb_map.{...}                    (W_i, E)        SN
        module_list.i.g                                 (1, W_i)        gain, init 1
        module_list.i.short_cut.{...}                   (W_i, W_in)     SN, only if W_in != W_i
        final_dense.weight                              (1, W_last)     no bias, no SN
  Init: h1.{weight,bias} (h_dim, 2); temb_map.0.{weight,bias}, temb_map.2.{weight,bias}
        (t_dim, t_dim); final_dense.weight (2, h_dim) zero, no bias;
        module_list.i.norm1.{weight,bias}, module_list.i.norm2.{weight,bias} (h_dim,);
        module_list.i.conv1.{weight,bias}, module_list.i.conv2.{weight,bias} (h_dim, h_dim),
        conv2.weight zero; module_list.i.mlp.1.{weight,bias} (2*h_dim, t_dim): rows
        0..h_dim-1 give scale, the rest shift; i = 0..n_blocks-1
"""
import argparse
import dataclasses
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

LRELU_SLOPE = 0.2


def lrelu(x):
    return F.leaky_relu(x, negative_slope=LRELU_SLOPE)


@dataclasses.dataclass
class ToyConfig:
    # EBM (official: ch = temb_dim = 128, one block per width)
    ch: int = 128
    ch_mult: tuple = (1, 2, 2, 2)
    temb_dim: int = 128
    ebm_blocks: int = 1
    # initializer (official: h_dim 64, t_dim 128, one block)
    h_dim: int = 64
    t_dim: int = 128
    gen_blocks: int = 1
    # schedule and sampler
    T: int = 6
    logsnr_min: float = -5.1
    logsnr_max: float = 9.8
    b: float = 1e-3
    K: int = 15
    # optimisation (official toy values, method.md §4.2 / §5.6)
    lr_ebm: float = 3e-6
    lr_gen: float = 1e-5
    warmup_ebm: int = 10000
    warmup_gen: int = 10000
    warmup_gen_offset: int = 500
    ema_ebm: float = 0.9999
    ema_gen: float = 0.9999
    clip: float = 1.0
    # toy_example.py never calls zero_grad (the image scripts do), so its gradients pile up
    # across iterations, each pile clipped in place. False is the method of §4.1.
    accumulate_grads: bool = False


# ---------------------------------------------------------------------------------------
# Schedule (method.md §1)

class ToySchedule:
    """Per-level (j = 0..T) and per-pair (j = 1..T, index 0 unused) constants, computed in
    double and rounded once to float32 tensors that are indexed with j."""

    def __init__(self, T=6, logsnr_min=-5.1, logsnr_max=9.8, b=1e-3):
        def sig(z):
            return 1.0 / (1.0 + math.exp(-z))

        self.T, self.b = T, b
        B = math.atan(math.exp(-logsnr_max / 2))
        A = math.atan(math.exp(-logsnr_min / 2)) - B
        lam = [-2.0 * math.log(math.tan(A * j / T + B)) for j in range(T + 1)]
        g = [sig(l) for l in lam]
        noise = [sig(-l) for l in lam]  # 1 - g without cancellation
        tau = [1000.0 * (2.0 / math.pi) * math.atan(math.exp(-min(20.0, max(-20.0, l)) / 2))
               for l in lam]
        C = 1.0 / math.sqrt(noise[0])  # toy: constant over pairs
        r = [0.0] + [g[j] / g[j - 1] for j in range(1, T + 1)]
        kappa = [0.0] + [r[j] if j < T else 1.0 for j in range(1, T + 1)]
        sigma = [0.0] + [math.sqrt(1.0 - r[j]) for j in range(1, T + 1)]
        beta_t = [0.0] + [noise[j - 1] / noise[j] * (1.0 - r[j]) for j in range(1, T + 1)]
        h = [0.0] + [2.0 * b * C * sigma[j] ** 2 for j in range(1, T + 1)]
        self.logsnr_d, self.h_d, self.C = lam, h, C

        def f32(v):
            return torch.tensor(v, dtype=torch.float64).float()

        self.logsnr = f32(lam)
        self.sqrt_g = f32([math.sqrt(v) for v in g])
        self.sqrt_1mg = f32([math.sqrt(v) for v in noise])
        self.tau = f32(tau)
        self.kappa = f32(kappa)
        self.sqrt_kappa = f32([math.sqrt(v) for v in kappa])
        self.sigma = f32(sigma)
        self.h = f32(h)
        self.sqrt_h = f32([math.sqrt(v) for v in h])
        self.tether = f32([0.0] + [b * C if j < T else 0.0 for j in range(1, T + 1)])
        self.init_std = f32([math.sqrt(beta_t[j] * kappa[j]) for j in range(T + 1)])
        self.loss_w = f32([0.0] + [sigma[1] / sigma[j] for j in range(1, T + 1)])

    def sqrt_h_scaled(self, sz2):
        """Langevin noise std with the step-size multiplier sz_mul^2 = sz2 (§2.3)."""
        v = torch.tensor([math.sqrt(v * sz2) for v in self.h_d], dtype=torch.float64).float()
        return v.to(self.tau.dtype)

    def to(self, dtype):
        """Casts the float32-rounded tables (the float64 twin run keeps the same constants)."""
        for k, v in list(vars(self).items()):
            if isinstance(v, torch.Tensor):
                setattr(self, k, v.to(dtype))
        return self


# ---------------------------------------------------------------------------------------
# Networks (method.md §5.6)

def sinusoid(tau, dim):
    """(B,) embedding inputs -> (B, dim) [sin..., cos...] with half = dim/2 frequencies."""
    half = dim // 2
    assert dim % 2 == 0 and half > 1
    # The official expression rounds twice: (k * -ln 10000) then / (half - 1), in float32
    # (also in the float64 run, so that both see the same frequencies).
    freq = torch.exp(torch.arange(half, dtype=torch.float32) * -math.log(10000.0) / (half - 1))
    arg = tau[:, None] * freq.to(tau.dtype)[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


def sn_linear(n_in, n_out):
    return spectral_norm(nn.Linear(n_in, n_out))


class ToyEBMBlock(nn.Module):
    def __init__(self, c_in, c_out, emb_dim):
        super().__init__()
        self.conv1 = sn_linear(c_in, c_out)  # "conv" in name only: the official toy's names
        self.conv2 = sn_linear(c_out, c_out)
        self.temb_map = sn_linear(emb_dim, c_out)
        self.g = nn.Parameter(torch.ones(1, c_out))  # per-channel gain
        self.short_cut = sn_linear(c_in, c_out) if c_in != c_out else None

    def time_proj(self, emb):
        return lrelu(self.temb_map(lrelu(emb)))

    def forward(self, x, tproj):
        a = self.conv1(lrelu(x)) + tproj
        a = self.conv2(lrelu(a)) * self.g
        return a + (self.short_cut(x) if self.short_cut is not None else x)


class ToyEBM(nn.Module):
    """f(y, tau): negative energy times the step size (§2.1). The time path (embedding and each
    block's projection) depends on tau alone, so Langevin computes it once per chain.
    module_list[0] is the input layer, module_list[1..] the blocks (official layout)."""

    def __init__(self, ch=128, ch_mult=(1, 2, 2, 2), temb_dim=128, n_blocks=1, in_dim=2):
        super().__init__()
        self.temb_dim = temb_dim
        emb = 4 * temb_dim
        self.temb_map1 = sn_linear(temb_dim, emb)
        self.temb_map2 = sn_linear(emb, emb)
        layers, c_in = [sn_linear(in_dim, ch)], ch
        for m in ch_mult:
            for _ in range(n_blocks):
                layers.append(ToyEBMBlock(c_in, ch * m, emb))
                c_in = ch * m
        self.module_list = nn.ModuleList(layers)
        self.final_dense = nn.Linear(c_in, 1, bias=False)

    def embed(self, tau):
        """(B,) -> (B, 4*temb_dim) embedding after temb_map2 (before any activation)."""
        return self.temb_map2(lrelu(self.temb_map1(sinusoid(tau, self.temb_dim))))

    def time_path(self, tau):
        e = self.embed(tau)
        return [blk.time_proj(e) for blk in self.module_list[1:]]

    def body(self, y, tproj):
        h = self.module_list[0](y)
        for blk, tp in zip(self.module_list[1:], tproj):
            h = blk(h, tp)
        return self.final_dense(F.relu(h))[:, 0]

    def forward(self, y, tau):
        return self.body(y, self.time_path(tau))


class ToyInitBlock(nn.Module):
    def __init__(self, h_dim, t_dim):
        super().__init__()
        self.norm1 = nn.GroupNorm(32, h_dim, eps=1e-6)
        self.norm2 = nn.GroupNorm(32, h_dim, eps=1e-6)
        self.conv1 = nn.Linear(h_dim, h_dim)
        self.conv2 = nn.Linear(h_dim, h_dim)
        with torch.no_grad():
            self.conv2.weight.zero_()
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(t_dim, 2 * h_dim))  # -> (scale, shift)

    def forward(self, h, t):
        a = self.conv1(F.silu(self.norm1(h)))
        scale, shift = self.mlp(t).chunk(2, dim=1)
        a = F.silu(self.norm2(a) * (1.0 + scale) + shift)
        return self.conv2(a) + h


class ToyInitializer(nn.Module):
    """mu(x_j, tau_j) = x_j + N(x_j): residual, zero output layer, so mu = x_j at init."""

    def __init__(self, h_dim=64, t_dim=128, n_blocks=1, in_dim=2):
        super().__init__()
        self.t_dim = t_dim
        self.h1 = nn.Linear(in_dim, h_dim)
        self.temb_map = nn.Sequential(nn.Linear(t_dim, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        self.final_dense = nn.Linear(h_dim, in_dim, bias=False)
        with torch.no_grad():
            self.final_dense.weight.zero_()
        self.module_list = nn.ModuleList([ToyInitBlock(h_dim, t_dim) for _ in range(n_blocks)])

    def forward(self, x, tau):
        t = self.temb_map(sinusoid(tau, self.t_dim))
        h = self.h1(x)
        for blk in self.module_list:
            h = blk(h, t)
        return self.final_dense(F.silu(h)) + x


# ---------------------------------------------------------------------------------------
# EMA exactly as torch_ema 0.3 (use_num_updates=True): parameters only, never SN u/v.

class EMA:
    def __init__(self, params, decay):
        self.decay = decay
        self.n_updates = 0
        self.shadow = [p.detach().clone() for p in params]

    @torch.no_grad()
    def update(self, params):
        self.n_updates += 1
        d = min(self.decay, (1 + self.n_updates) / (10 + self.n_updates))
        one_minus_d = 1.0 - d  # formed in double, rounded to float32 by the kernel
        for s, p in zip(self.shadow, params):
            s.sub_((s - p).mul_(one_minus_d))

    @torch.no_grad()
    def swap(self, params):
        """Exchanges the shadow and the live values (call twice to undo)."""
        for s, p in zip(self.shadow, params):
            tmp = p.detach().clone()
            p.copy_(s)
            s.copy_(tmp)


# ---------------------------------------------------------------------------------------
# Langevin (§2.2, §2.3) and the sampling chain (§6)

def langevin(ebm, y0, x_j, tau_prev, tether, sqrt_h, xi, sz2=1.0):
    """K = len(xi) steps of y <- y + 0.5*grad G(y) + sqrt_h*xi[k] with
    G = (f(y, tau_prev) - tether*||y - x_j||^2) * sz2. The EBM must be in eval mode (no power
    iteration). y0, x_j, xi[k]: (B, 2); tau_prev, tether, sqrt_h: (B,). Returns y^K detached."""
    assert not ebm.training
    with torch.no_grad():
        tproj = ebm.time_path(tau_prev)
    sqrt_h = sqrt_h[:, None]
    y = y0.detach().clone()
    for k in range(xi.shape[0]):
        y.requires_grad_(True)
        G = ebm.body(y, tproj) - ((y - x_j) ** 2).sum(dim=1) * tether
        if sz2 != 1.0:
            G = G * sz2
        grad, = torch.autograd.grad(G.sum(), [y])
        y = y.detach() + 0.5 * grad
        y = y + sqrt_h * xi[k]
    return y.detach()


@torch.no_grad()
def sample_chain(ebm, gen, sched, x_top, xi_init, xi_langevin, sz2=1.0):
    """x_T = x_top (n, 2); for j = T..1: y0 = mu(x, tau_j) + std_j*xi_init[j-1], Langevin with
    xi_langevin[j-1] (K', n, 2), x = y / (sqrt(kappa_j) + 1e-8). sz2 = K/K' when K' < K steps
    are used (§2.3). Returns x_0 and the list [x_{T-1}, ..., x_0]. Both nets in eval mode."""
    ebm.eval()
    gen.eval()
    n, T = x_top.shape[0], sched.T
    sqrt_h = sched.sqrt_h if sz2 == 1.0 else sched.sqrt_h_scaled(sz2)
    x, levels = x_top, []
    for j in range(T, 0, -1):
        jj = torch.full((n,), j, dtype=torch.long)
        y0 = gen(x, sched.tau[jj]) + sched.init_std[jj][:, None] * xi_init[j - 1]
        with torch.enable_grad():
            y = langevin(ebm, y0, x, sched.tau[jj - 1], sched.tether[jj], sqrt_h[jj],
                         xi_langevin[j - 1], sz2)
        x = y / (sched.sqrt_kappa[jj][:, None] + 1e-8)
        levels.append(x)
    return x, levels


# ---------------------------------------------------------------------------------------
# Training (§4)

class ToyState:
    """Both nets, their optimizers, LR schedules and EMAs. dtype float64 gives a run with the
    same initial weights whose distance to the float32 run measures float32 noise."""

    def __init__(self, cfg, seed=None, dtype=torch.float32):
        if seed is not None:
            torch.manual_seed(seed)
        self.cfg = cfg
        self.sched = ToySchedule(cfg.T, cfg.logsnr_min, cfg.logsnr_max, cfg.b).to(dtype)
        self.ebm = ToyEBM(cfg.ch, cfg.ch_mult, cfg.temb_dim, cfg.ebm_blocks).to(dtype)
        self.gen = ToyInitializer(cfg.h_dim, cfg.t_dim, cfg.gen_blocks).to(dtype)
        self.opt_ebm = torch.optim.Adam(self.ebm.parameters(), lr=cfg.lr_ebm, betas=(0.9, 0.999),
                                        eps=1e-8)
        self.opt_gen = torch.optim.AdamW(self.gen.parameters(), lr=cfg.lr_gen,
                                         betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
        # LambdaLR: k = scheduler steps taken so far, so the first EBM update has lr 0.
        self.lr_ebm = torch.optim.lr_scheduler.LambdaLR(
            self.opt_ebm, lambda k: min(1.0, k / float(cfg.warmup_ebm)))
        self.lr_gen = torch.optim.lr_scheduler.LambdaLR(
            self.opt_gen, lambda k: min(1.0, (k + cfg.warmup_gen_offset) / float(cfg.warmup_gen)))
        self.ema_ebm = EMA(self.ebm.parameters(), cfg.ema_ebm)
        self.ema_gen = EMA(self.gen.parameters(), cfg.ema_gen)
        self.step = 0


def draw_noise(cfg, B, gen=None):
    """Every random draw of one training iteration (see the module docstring)."""
    return {
        "j": torch.randint(1, cfg.T + 1, (B,), generator=gen),
        "eps": torch.randn(B, 2, generator=gen),
        "xi_init": torch.randn(B, 2, generator=gen),
        "xi_langevin": torch.randn(cfg.K, B, 2, generator=gen),
    }


def train_step(state, x, noise):
    """One CDRL iteration (§4.1) on the batch x (B, 2) with the given noise. Returns a dict of
    per-sample and scalar results (before the updates: f_pos, f_neg, y0, x_neg, losses)."""
    cfg, s, ebm, gen = state.cfg, state.sched, state.ebm, state.gen
    j = noise["j"].long()
    eps, xi_init, xi_lang = noise["eps"], noise["xi_init"], noise["xi_langevin"]
    col = lambda v: v[:, None]  # noqa: E731
    x_j = col(s.sqrt_g[j]) * x + col(s.sqrt_1mg[j]) * eps
    x_prev = col(s.sqrt_g[j - 1]) * x + col(s.sqrt_1mg[j - 1]) * eps
    sk = col(s.sqrt_kappa[j])
    tau_prev, tau_j, w = s.tau[j - 1], s.tau[j], s.loss_w[j]
    lr_ebm, lr_gen = state.opt_ebm.param_groups[0]["lr"], state.opt_gen.param_groups[0]["lr"]

    if not cfg.accumulate_grads:
        state.opt_ebm.zero_grad(set_to_none=True)
        state.opt_gen.zero_grad(set_to_none=True)

    # (1) positive energy, train mode: one SN power iteration in every SN layer.
    ebm.train()
    f_pos = ebm(x_prev * sk, tau_prev)
    loss_pos = -(f_pos * w).mean()
    loss_pos.backward()
    # (2) proposal
    gen.train()
    y0 = gen(x_j, tau_j) + col(s.init_std[j]) * xi_init
    # (3) Langevin in eval mode, anchored at x_j, conditioned on tau_{j-1}
    ebm.eval()
    y = langevin(ebm, y0, x_j, tau_prev, s.tether[j], s.sqrt_h[j], xi_lang)
    x_neg = y / (sk + 1e-8)
    # (4) negative energy, still eval mode
    f_neg = ebm(x_neg * sk, tau_prev)
    loss_neg = (f_neg * w).mean()
    loss_neg.backward()
    # (5) EBM update
    gnorm_ebm = torch.nn.utils.clip_grad_norm_(ebm.parameters(), cfg.clip)
    state.opt_ebm.step()
    state.lr_ebm.step()
    state.ema_ebm.update(ebm.parameters())
    # (6) initializer: regress y0 (noise included) on the refined sample
    loss_gen = ((x_neg * sk - y0) ** 2).sum(dim=1).mean()
    loss_gen.backward()
    gnorm_gen = torch.nn.utils.clip_grad_norm_(gen.parameters(), cfg.clip)
    state.opt_gen.step()
    state.lr_gen.step()
    state.ema_gen.update(gen.parameters())
    state.step += 1
    return {
        "f_pos": f_pos.detach(), "f_neg": f_neg.detach(), "y0": y0.detach(), "x_neg": x_neg,
        "loss_ebm": (loss_pos + loss_neg).detach(), "loss_init": loss_gen.detach(),
        "gnorm_ebm": gnorm_ebm.detach(), "gnorm_gen": gnorm_gen.detach(),
        "lr_ebm": lr_ebm, "lr_gen": lr_gen,
    }


# ---------------------------------------------------------------------------------------
# Data (§5.6) and the sanity run

SQUARES = np.array([(1, 2, 0, 1), (0, 1, 1, 2), (0, 1, -1, 0), (1, 2, -2, -1),
                    (-1, 0, -2, -1), (-2, -1, -1, 0), (-1, 0, 0, 1), (-2, -1, 1, 2)],
                   dtype=np.float64)


def checkerboard(n, rng, mul=4.0):
    """n points (n, 2) float32: a uniform square of the 8, then a uniform point in it."""
    sq = SQUARES[rng.integers(0, len(SQUARES), size=n)] * mul
    u = rng.random((n, 2))
    pts = np.stack([sq[:, 0] + (sq[:, 1] - sq[:, 0]) * u[:, 0],
                    sq[:, 2] + (sq[:, 3] - sq[:, 2]) * u[:, 1]], axis=1)
    return torch.from_numpy(pts.astype(np.float32))


def in_squares(p, mul=4.0):
    """Fraction of points inside one of the 8 squares."""
    p = p.numpy() / mul
    inside = np.zeros(len(p), dtype=bool)
    for x0, x1, y0, y1 in SQUARES:
        inside |= (p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 1] >= y0) & (p[:, 1] <= y1)
    return float(inside.mean())


@torch.no_grad()
def density_grid(ebm, sched, j, n=100, lim=8.0):
    """exp(f(sqrt(kappa_j) z, tau_{j-1}) / h_j) normalised over an n x n grid on [-lim, lim]^2
    (rows = y from top to bottom)."""
    ebm.eval()
    v = torch.linspace(lim, -lim, n)
    yy, xx = torch.meshgrid(v, -v, indexing="ij")
    z = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    jj = torch.full((z.shape[0],), j, dtype=torch.long)
    f = ebm(z * sched.sqrt_kappa[jj][:, None], sched.tau[jj - 1]) / sched.h[j]
    p = torch.exp(f - f.max())
    return (p / p.sum()).reshape(n, n)


def save_png(path, ebm, gen, sched, samples, n=100):
    from PIL import Image
    # log-density over the 8 nats below its peak: exp(f/h_1) is too peaked to show linearly
    logd = np.log(density_grid(ebm, sched, 1, n).numpy().astype(np.float64) + 1e-300)
    a = (255 * np.clip(1 + (logd - logd.max()) / 8, 0, 1)).astype(np.uint8)
    h = np.zeros((n, n), dtype=np.float64)
    s = samples.numpy()
    ix = np.clip(((s[:, 0] + 8) / 16 * n).astype(int), 0, n - 1)
    iy = np.clip(((8 - s[:, 1]) / 16 * n).astype(int), 0, n - 1)
    np.add.at(h, (iy, ix), 1.0)
    b = (255 * h / max(h.max(), 1)).astype(np.uint8)
    img = np.concatenate([a, np.full((n, 4), 128, np.uint8), b], axis=1)
    Image.fromarray(img).resize((img.shape[1] * 3, n * 3), Image.NEAREST).save(path)


def main():
    ap = argparse.ArgumentParser(description="train the toy twin on the checkerboard")
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--ch", type=int, default=128)
    ap.add_argument("--lr-ebm", type=float, default=1e-4)
    ap.add_argument("--lr-gen", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--accumulate-grads", action="store_true")
    ap.add_argument("--png", default=None)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = ToyConfig(ch=a.ch, temb_dim=a.ch, lr_ebm=a.lr_ebm, lr_gen=a.lr_gen,
                    warmup_ebm=a.warmup, warmup_gen=a.warmup, warmup_gen_offset=0,
                    ema_ebm=a.ema, ema_gen=a.ema, accumulate_grads=a.accumulate_grads)
    state = ToyState(cfg, seed=a.seed)
    rng = np.random.default_rng(a.seed)
    data = checkerboard(50000, rng)
    g = torch.Generator().manual_seed(a.seed)
    t0 = time.time()
    for it in range(a.iters):
        idx = torch.from_numpy(rng.choice(len(data), size=a.batch, replace=False))
        out = train_step(state, data[idx], draw_noise(cfg, a.batch, g))
        if it % 100 == 0 or it == a.iters - 1:
            print(f"it {it} {time.time() - t0:.0f}s loss_ebm {out['loss_ebm']:.4f} "
                  f"f_pos {out['f_pos'].mean():.3f} f_neg {out['f_neg'].mean():.3f} "
                  f"loss_init {out['loss_init']:.4f} gnorm {out['gnorm_ebm']:.3f}", flush=True)
    n = 5000
    nz = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    params_e, params_g = list(state.ebm.parameters()), list(state.gen.parameters())
    for tag, swap in (("live", False), ("ema", True)):
        if swap:
            state.ema_ebm.swap(params_e)
            state.ema_gen.swap(params_g)
        x0, _ = sample_chain(state.ebm, state.gen, state.sched, nz(n, 2), nz(cfg.T, n, 2),
                             nz(cfg.T, cfg.K, n, 2))
        print(f"{tag}: samples in squares {in_squares(x0):.3f} (data 1.0, uniform on the "
              f"[-8,8]^2 box 0.5); mean {x0.mean(0).tolist()} std {x0.std(0).tolist()}")
        if a.png:
            root, ext = os.path.splitext(a.png)
            save_png(f"{root}_{tag}{ext}", state.ebm, state.gen, state.sched, x0)
        if swap:
            state.ema_ebm.swap(params_e)
            state.ema_gen.swap(params_g)


if __name__ == "__main__":
    sys.exit(main())
