"""Fixture for tests/test_optim.c: torch.optim.Adam / AdamW (non-fused single-tensor path,
foreach=False), clip_grad_norm_, the torch_ema EMA and the LambdaLR warm-ups, over two
parameter tensors (7, 5) and (5,) that the C side sees as one flat buffer of 40.
Leaves out amsgrad/maximize and non-L2 norms. Run from the repository root with Debian's
python (torch 1.13): /usr/bin/python3 ref/fixtures_optim.py -> tests/fixtures/optim.safetensors
"""
import os
import sys

import numpy as np
import torch
from torch.optim.lr_scheduler import LambdaLR

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402

torch.manual_seed(0)
SHAPES = [(7, 5), (5,)]
N = sum(int(np.prod(s)) for s in SHAPES)  # 40
STEPS = 3


def f32(x):
    """The double nearest the float32 of x: the value a cdrl_adam_params field holds."""
    return float(np.float32(x))


def flat(ts):
    return torch.cat([t.detach().reshape(-1) for t in ts])


def split(x):
    out, o = [], 0
    for s in SHAPES:
        k = int(np.prod(s))
        out.append(x[o:o + k].reshape(s).clone())
        o += k
    return out


# A weight (7, 5) and a zero-initialised bias (5,): the bias makes every update relative to
# a zero parameter, the strictest case for relative error. Element 0 gets a zero gradient
# at every step, so its denominator is eps alone.
param0 = torch.cat([0.5 * torch.randn(35), torch.zeros(5)])
grads = torch.randn(STEPS, N)
grads[:, 0] = 0.0


def run(cls, hyper, lr_lambda=None):
    """STEPS updates of cls from param0 with the stored grads; returns the lr used at each
    step and the parameters and moments after each step, all flat (STEPS, N)."""
    params = [t.requires_grad_(True) for t in split(param0)]
    opt = cls(params, lr=hyper["lr"], betas=(hyper["b1"], hyper["b2"]), eps=hyper["eps"],
              weight_decay=hyper["wd"], foreach=False)
    sched = LambdaLR(opt, lr_lambda) if lr_lambda else None
    lrs, ps, ms, vs = [], [], [], []
    for s in range(STEPS):
        for p, g in zip(params, split(grads[s])):
            p.grad = g.clone()
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched:
            sched.step()
        ps.append(flat(params))
        ms.append(flat([opt.state[p]["exp_avg"] for p in params]))
        vs.append(flat([opt.state[p]["exp_avg_sq"] for p in params]))
    return (torch.tensor(lrs, dtype=torch.float32), torch.stack(ps), torch.stack(ms),
            torch.stack(vs))


T = {"in.param": param0, "in.grad": grads}

# Each optimizer twice: "dec" passes the decimal hyperparameters as the official code does
# (Python doubles 0.9, 0.999, 1e-3), "f32" their float32 roundings, which are exactly what
# cdrl_adam_params holds; the C test compares the latter tightly and the former within the
# (explained) gap that the float32 betas open.
CONFIGS = {
    "adam": (torch.optim.Adam, dict(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, wd=0.0), 0),
    "adam_wd": (torch.optim.Adam, dict(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, wd=0.01), 0),
    "adamw": (torch.optim.AdamW, dict(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, wd=0.05), 1),
}
for name, (cls, hyper, decoupled) in CONFIGS.items():
    T[f"in.{name}.hyper"] = torch.tensor(
        [hyper["lr"], hyper["b1"], hyper["b2"], hyper["eps"], hyper["wd"], decoupled],
        dtype=torch.float32)
    for variant, h in (("dec", hyper), ("f32", {k: f32(v) for k, v in hyper.items()})):
        _, p, m, v = run(cls, h)
        T[f"out.{name}.{variant}.param"] = p
        T[f"out.{name}.{variant}.m"] = m
        T[f"out.{name}.{variant}.v"] = v

# Warm-ups as the official code's LambdaLR. warmup 4 gives visible multipliers; the EBM run
# (Adam, linear) has lr 0 at its first update, the initializer run (AdamW, offset 1) does not.
WARM, OFFSET = 4, 1
lin = lambda k: min(1.0, k / WARM)  # noqa: E731
off = lambda k: min(1.0, (k + OFFSET) / WARM)  # noqa: E731
base = dict(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, wd=0.0)
for name, cls, fn in (("warm_linear", torch.optim.Adam, lin),
                      ("warm_offset", torch.optim.AdamW, off)):
    lr, p, m, v = run(cls, {k: f32(x) for k, x in base.items()}, fn)
    T[f"out.{name}.lr"] = lr
    T[f"out.{name}.param"] = p
    T[f"out.{name}.m"] = m
    T[f"out.{name}.v"] = v


def lr_sequence(fn, n):
    """The lr the optimizer holds at each of its first n steps under LambdaLR(fn)."""
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1e-3)
    sched = LambdaLR(opt, fn)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return torch.tensor(out, dtype=torch.float32)


# The official settings (warmup 10000, offset 500) and the visible warmup 4, over 6 steps
# so that the latter reaches its clamp at 1.
T["out.lr.linear_10000"] = lr_sequence(lambda k: min(1.0, k / 10000), 6)
T["out.lr.offset_10000_500"] = lr_sequence(lambda k: min(1.0, (k + 500) / 10000), 6)
T["out.lr.linear_4"] = lr_sequence(lin, 6)
T["out.lr.offset_4_1"] = lr_sequence(off, 6)

# clip_grad_norm_: one case that clips (norm ~6.3 > 2.5; max_norm != 1 exercises the
# reciprocal-times-max_norm coefficient) and one that does not (norm ~0.06 < 1).
clip_max = [2.5, 1.0]
clip_in = [torch.randn(N), 0.01 * torch.randn(N)]
T["in.clip.max_norm"] = torch.tensor(clip_max, dtype=torch.float32)
for tag, g, mx in zip(("big", "small"), clip_in, clip_max):
    T[f"in.clip.{tag}.grad"] = g.clone()
    params = [t.requires_grad_(True) for t in split(torch.zeros(N))]
    for p, gi in zip(params, split(g)):
        p.grad = gi
    norm = torch.nn.utils.clip_grad_norm_(params, mx)
    T[f"out.clip.{tag}.norm"] = norm.reshape(1).float()
    T[f"out.clip.{tag}.grad"] = flat([p.grad for p in params])


class EMATwin:
    """torch_ema 0.3 ExponentialMovingAverage(parameters, decay, use_num_updates=True),
    re-implemented here because torch_ema is not installed: shadows are clones of the
    parameters at construction; update() increments num_updates first, then uses
    decay = min(decay, (1 + num_updates) / (10 + num_updates)) and, per tensor,
    tmp = shadow - param; tmp.mul_(1.0 - decay); shadow.sub_(tmp)."""

    def __init__(self, parameters, decay):
        self.decay = decay
        self.num_updates = 0
        self.shadow_params = [p.clone().detach() for p in parameters]

    def update(self, parameters):
        decay = self.decay
        self.num_updates += 1
        decay = min(decay, (1 + self.num_updates) / (10 + self.num_updates))
        one_minus_decay = 1.0 - decay
        with torch.no_grad():
            for s_param, param in zip(self.shadow_params, parameters):
                tmp = s_param - param
                tmp.mul_(one_minus_decay)
                s_param.sub_(tmp)
        return decay


# 5 updates along a random walk of the parameters. Base decay 0.9999 stays on the ramp
# (2/11 .. 6/15); base 0.3 hits the min() at the third update. The base decays are float32
# values, as cdrl_ema_decay receives them.
EMA_UPDATES = 5
ema_decays = [f32(0.9999), f32(0.3)]
walk = param0 + 0.1 * torch.randn(EMA_UPDATES, N).cumsum(0)
T["in.ema.params"] = walk
T["in.ema.base_decay"] = torch.tensor(ema_decays, dtype=torch.float32)
for tag, d in zip(("d9999", "d03"), ema_decays):
    ema = EMATwin(split(param0), d)
    shadows, used = [], []
    for k in range(EMA_UPDATES):
        used.append(ema.update(split(walk[k])))
        shadows.append(flat(ema.shadow_params))
    T[f"out.ema.{tag}.decay"] = torch.tensor(used, dtype=torch.float32)
    T[f"out.ema.{tag}.shadow"] = torch.stack(shadows)

# The C test expects the Adam moments bit for bit, which holds for torch's AVX2 kernels (they
# fuse multiply-adds that src/train/optim.c does with fmaf); record which kernels ran.
cap = [ln.split(":", 1)[1].strip() for ln in torch.__config__.show().splitlines()
       if "CPU capability usage" in ln]

os.makedirs("tests/fixtures", exist_ok=True)
st.save("tests/fixtures/optim.safetensors", T,
        {"n": N, "steps": STEPS, "ema_updates": EMA_UPDATES, "warmup": WARM, "offset": OFFSET,
         "torch": torch.__version__, "cpu_capability": cap[0] if cap else "unknown"})
print("wrote tests/fixtures/optim.safetensors:", len(T), "tensors")
