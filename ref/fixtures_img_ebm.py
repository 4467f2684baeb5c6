"""Image EBM fixtures for tests/test_img_ebm.c (ref/img_twin.py; method.md §5.3, §5.4, §7).

Two small networks with PyTorch's default initialisation and gains g drawn around 1:
  cond:   3x16x16, ch = temb_dim = 16, ch_mult (1,2,2), 2 blocks per level, 10 classes
  uncond: 1x14x14, ch = temb_dim = 8, ch_mult (1,2,2), 1 block per level (pools 14 -> 7 -> 3,
          the second one in floor mode)
For each: the parameters and the SN buffers u0, v0 before the forward; one train-mode forward
(one power iteration per SN layer, as the positive pass of training) at several levels (tau from
the official schedule, T = 6, lambda in [-5.1, 9.8]) and labels including the null label 0;
the energies f, df/dy and every parameter gradient of (f * r).sum(), and u1, v1 after it.
The same computation in float64 from the same weights gives floor.<name> = max |f32 - f64|
per tensor: the float32 rounding noise a C implementation is compared against.

Names: <case>.param.<key>, <case>.buf.<key> (u0, v0), <case>.out.<key> (u1, v1, f),
<case>.grad.<key>, <case>.grad.x, <case>.in.{x,r,tau,level,label}, <case>.floor.<name>.
Run from the repository root: /usr/bin/python3 ref/fixtures_img_ebm.py
"""
import copy
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402
from img_twin import ImgEBM  # noqa: E402

torch.set_num_threads(1)
OUT = "tests/fixtures/img_ebm.safetensors"


def schedule_tau(T=6, logsnr_min=-5.1, logsnr_max=9.8):
    """tau_j, j = 0..T, of the cosine logSNR schedule (method.md §1.2), in double, then float32."""
    b = math.atan(math.exp(-logsnr_max / 2))
    a = math.atan(math.exp(-logsnr_min / 2)) - b
    lam = [-2.0 * math.log(math.tan(a * j / T + b)) for j in range(T + 1)]
    tau = [1000.0 * (2.0 / math.pi) * math.atan(math.exp(-min(20.0, max(-20.0, l)) / 2)) for l in lam]
    return torch.tensor(tau, dtype=torch.float64).float(), torch.tensor(lam, dtype=torch.float64).float()


def run(model, x, tau, level, label, r):
    """Train-mode forward and backward of (f * r).sum(); returns f, dx, {name: grad}."""
    model.train()
    x = x.clone().requires_grad_(True)
    f = model(x, tau[level], label)
    (f * r).sum().backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    return f.detach(), x.grad.detach(), grads


def case(t, name, seed, cfg, res, B, level, label):
    torch.manual_seed(seed)
    model = ImgEBM(**cfg)
    with torch.no_grad():
        for k, p in model.named_parameters():
            if k.endswith(".g"):  # gains away from 1, so that a wrong index shows
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
    model64 = copy.deepcopy(model).double()
    sd = model.state_dict()
    for k, v in sd.items():
        kind = "buf" if k.endswith("weight_u") or k.endswith("weight_v") else "param"
        t[f"{name}.{kind}.{k}"] = v.clone()

    x = torch.randn(B, cfg["in_ch"], res, res)
    r = torch.randn(B)
    tau, lam = schedule_tau()
    level = torch.tensor(level, dtype=torch.long)
    label = torch.tensor(label, dtype=torch.long) if label is not None else None

    f, dx, grads = run(model, x, tau, level, label, r)
    f64, dx64, grads64 = run(model64, x.double(), tau.double(), level, label, r.double())

    # The official call (lambda in, tau in float32) agrees to float32 noise.
    with torch.no_grad():
        m2 = ImgEBM(**cfg)
        m2.load_state_dict(model.state_dict())  # u1, v1: the vectors the train forward used
        m2.eval()
        f_official = m2.forward_logsnr(x, lam[level], label)
    print(f"{name}: f {f.tolist()}")
    print(f"{name}: |f - f(logsnr path)| max {float((f - f_official).abs().max()):.3g}, "
          f"|f32 - f64| max {float((f - f64).abs().max()):.3g}")

    t[f"{name}.in.x"] = x
    t[f"{name}.in.r"] = r
    t[f"{name}.in.tau"] = tau
    t[f"{name}.in.level"] = level.to(torch.int32)
    if label is not None:
        t[f"{name}.in.label"] = label.to(torch.int32)
    t[f"{name}.out.f"] = f
    t[f"{name}.grad.x"] = dx
    t[f"{name}.floor.out.f"] = (f.double() - f64).abs().max().float().reshape(1)
    t[f"{name}.floor.grad.x"] = (dx.double() - dx64).abs().max().float().reshape(1)
    for k, g in grads.items():
        t[f"{name}.grad.{k}"] = g
        t[f"{name}.floor.grad.{k}"] = (g.double() - grads64[k]).abs().max().float().reshape(1)
    for k, v in model.state_dict().items():
        if k.endswith("weight_u") or k.endswith("weight_v"):
            t[f"{name}.out.{k}"] = v.clone()
    return {
        f"{name}.in_ch": cfg["in_ch"], f"{name}.res": res, f"{name}.ch": cfg["ch"],
        f"{name}.temb_dim": cfg["temb_dim"], f"{name}.n_blocks": cfg["n_blocks"],
        f"{name}.n_classes": cfg["n_classes"], f"{name}.B": B, f"{name}.L": tau.numel(),
        f"{name}.ch_mult": ",".join(str(m) for m in cfg["ch_mult"]),
    }


def main():
    t, meta = {}, {}
    meta.update(case(t, "cond", 1, dict(in_ch=3, ch=16, temb_dim=16, ch_mult=(1, 2, 2), n_blocks=2,
                                           n_classes=10), res=16, B=6,
                     level=[0, 2, 6, 1, 4, 6], label=[0, 3, 10, 1, 0, 7]))
    meta.update(case(t, "uncond", 2, dict(in_ch=1, ch=8, temb_dim=8, ch_mult=(1, 2, 2), n_blocks=1,
                                             n_classes=0), res=14, B=4,
                     level=[5, 0, 3, 6], label=None))
    st.save(OUT, t, meta)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes, {len(t)} tensors)")


if __name__ == "__main__":
    main()
