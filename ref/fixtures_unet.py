"""U-Net initializer fixture for tests/test_unet.c (method.md §5.5, §7; ref/unet_twin.py).

A small conditional configuration: in_ch 1, 16x16, dim 32 (GroupNorm's 32 groups need 32
channels), dim_mults (1, 1) (16 -> 8), one ResBlock per level, attention at 8 (down level 1,
the middle, up level 0), 10 classes, dropout 0 (torch's masks cannot be reproduced; dropout is
checked in C alone). Every tensor is non-zero, the three zero-initialised kinds included, so
that every gradient is exercised.

The parameters are not stored (with their gradients the file would pass 1.5 MB): tensor k of
the state_dict (k = 0, 1, ...) is filled by the LCG of tests/test_util.h test_fill with seed
k + 1 over [lo, hi) = init.range[k], reproduced here bit for bit in float32. Stored: in.x,
in.r (the loss is (mu * r).sum()), in.tau (one per level), in.level and in.label (small
integers as floats; label 0 is the null class), init.range, init.sum (per-tensor sums, to
tell a parameter mismatch from a computation error), out.mu and grad.<state_dict key> for
every parameter; metadata: the config, `names` (the keys in state_dict order) and, for the
official CIFAR-10 initializer, `cifar_names` and `cifar_n_params`.
Run from the repository root: /usr/bin/python3 ref/fixtures_unet.py
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
from unet_twin import Unet  # noqa: E402

torch.manual_seed(7)
torch.set_num_threads(1)

CFG = dict(in_ch=1, resolution=16, dim=32, dim_mults=(1, 1), num_res_blocks=1,
           attn_resolutions=(8,), dropout=0.0, n_classes=10)
B = 4


def lcg_fill(n, seed, lo, hi):
    """tests/test_util.h test_fill: 64-bit LCG, 24 bits per value, lo + (hi - lo) * v / 2^24
    evaluated in float32 in that order."""
    mask = (1 << 64) - 1
    s = (seed * 2654435761 + 1) & mask
    v = np.empty(n, dtype=np.uint32)
    for i in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) & mask
        v[i] = (s >> 40) & 0xFFFFFF
    lo32, hi32 = np.float32(lo), np.float32(hi)
    span = np.float32(hi32 - lo32)
    return lo32 + (span * v.astype(np.float32)) / np.float32(16777216.0)


def ranges(model):
    """[lo, hi) per parameter: GroupNorm weight around 1 and bias around 0; conv and linear
    tensors U(+-1/sqrt(fan_in)) (PyTorch's default bound), zero-initialised ones included."""
    out = []
    for name, p in model.named_parameters():
        w = p if p.dim() > 1 else model.get_parameter(name.rsplit(".", 1)[0] + ".weight")
        if w.dim() > 1:
            b = float(np.float32(1.0) / np.sqrt(np.float32(w[0].numel())))
            out.append((-b, b))
        elif name.endswith(".weight"):
            out.append((0.6, 1.4))  # GroupNorm gamma
        else:
            out.append((-0.3, 0.3))  # GroupNorm beta
    return out


def main():
    m = Unet(**CFG)

    # A fresh (official-init) network returns x + final_conv.bias exactly.
    x = torch.rand(B, CFG["in_ch"], 16, 16) * 2 - 1
    tau = torch.tensor([4.7, 301.3, 951.2], dtype=torch.float32)
    level = torch.tensor([0, 2, 1, 2])
    label = torch.tensor([0, 3, 10, 7])
    with torch.no_grad():
        mu0 = m(x, tau[level], label)
        want = x + m.final_conv.bias[None, :, None, None]
        assert torch.equal(mu0, want), "fresh U-Net: mu != x + final_conv.bias"

    rng = ranges(m)
    names = [n for n, _ in m.named_parameters()]
    assert names == list(m.state_dict().keys())
    with torch.no_grad():
        for k, (name, p) in enumerate(m.named_parameters()):
            lo, hi = rng[k]
            p.copy_(torch.from_numpy(lcg_fill(p.numel(), k + 1, lo, hi)).reshape(p.shape))

    mu = m(x, tau[level], label)
    r = torch.randn_like(mu)
    (mu * r).sum().backward()

    t = {"in.x": x, "in.r": r, "in.tau": tau, "in.level": level.float(), "in.label": label.float(),
         "init.range": torch.tensor(rng, dtype=torch.float32),
         "init.sum": torch.stack([p.detach().double().sum() for p in m.parameters()]).float(),
         "out.mu": mu.detach()}
    for name, p in m.named_parameters():
        t["grad." + name] = p.grad
    t = {k: v.detach().float().contiguous() for k, v in t.items()}
    meta = dict(in_ch=CFG["in_ch"], resolution=CFG["resolution"], dim=CFG["dim"],
                n_levels=len(CFG["dim_mults"]), num_res_blocks=CFG["num_res_blocks"],
                attn=CFG["attn_resolutions"][0], n_classes=CFG["n_classes"], B=B, L=len(tau),
                n_params=sum(p.numel() for p in m.parameters()), names=",".join(names))
    # The official CIFAR-10 initializer's keys (state_dict order) and size, for the C table.
    cifar = Unet(3, 32, 64, (1, 1, 1), 3, (8, 16), 0.1, 0)
    meta.update(cifar_names=",".join(cifar.state_dict().keys()),
                cifar_n_params=sum(p.numel() for p in cifar.parameters()))
    path = os.path.join("tests", "fixtures", "unet.safetensors")
    st.save(path, t, meta)
    print("wrote", path, os.path.getsize(path), "bytes,", meta["n_params"], "parameters,",
          len(names), "tensors; |mu - x| max", float((mu - x).abs().max()))


if __name__ == "__main__":
    main()
