"""Spectral-normalisation fixtures for tests/test_sn_attn.c (torch.nn.utils.spectral_norm with
its defaults: one power iteration, eps 1e-12, dim 0; method.md section 5.3).

For an SN-Linear and an SN-Conv3x3 it records the initial weight_orig/u/v, a train-mode forward
(updated u, v, the effective weight, sigma, output), the gradients of (out * r).sum() with
respect to weight_orig, the normalised weight, the bias and the input, a second train-mode
forward (the second power iteration) and an eval-mode forward (u, v untouched).
Run from the repository root: /usr/bin/python3 ref/fixtures_sn.py
"""
import os
import sys

import torch
import torch.nn as nn
from torch.nn.utils import spectral_norm

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(1)


def sigma_of(m):
    w = m.weight_orig.detach().reshape(m.weight_orig.shape[0], -1)
    return torch.dot(m.weight_u, torch.mv(w, m.weight_v)).reshape(1)


def record(prefix, m, x, t):
    """Fills t with prefix.* tensors for module m (already spectral-normalised) and input x."""
    t[prefix + ".param.w"] = m.weight_orig.detach().clone()
    t[prefix + ".param.b"] = m.bias.detach().clone()
    t[prefix + ".param.u0"] = m.weight_u.clone()
    t[prefix + ".param.v0"] = m.weight_v.clone()
    t[prefix + ".in.x"] = x.detach().clone()

    # First train-mode forward: one power iteration, then backward of (out * r).sum().
    m.train()
    x = x.clone().requires_grad_(True)
    y = m(x)
    m.weight.retain_grad()
    r = torch.randn_like(y)
    (y * r).sum().backward()
    t[prefix + ".in.r"] = r
    t[prefix + ".out.u1"] = m.weight_u.clone()
    t[prefix + ".out.v1"] = m.weight_v.clone()
    t[prefix + ".out.sigma1"] = sigma_of(m)
    t[prefix + ".out.w_sn1"] = m.weight.detach().clone()
    t[prefix + ".out.y1"] = y.detach().clone()
    t[prefix + ".grad.w"] = m.weight_orig.grad.clone()
    t[prefix + ".grad.w_sn"] = m.weight.grad.clone()
    t[prefix + ".grad.b"] = m.bias.grad.clone()
    t[prefix + ".grad.x"] = x.grad.clone()

    # Second train-mode forward on the same weight: the second power iteration.
    with torch.no_grad():
        y2 = m(x)
    t[prefix + ".out.u2"] = m.weight_u.clone()
    t[prefix + ".out.v2"] = m.weight_v.clone()
    t[prefix + ".out.w_sn2"] = m.weight.detach().clone()
    t[prefix + ".out.y2"] = y2.clone()

    # Eval mode: no power iteration, u and v stay as they are.
    m.eval()
    with torch.no_grad():
        y3 = m(x)
    assert torch.equal(m.weight_u, t[prefix + ".out.u2"])
    assert torch.equal(m.weight_v, t[prefix + ".out.v2"])
    t[prefix + ".out.w_sn_eval"] = m.weight.detach().clone()
    t[prefix + ".out.y_eval"] = y3.clone()


def main():
    t, meta = {}, {}
    N, IN, OC = 5, 24, 16
    lin = spectral_norm(nn.Linear(IN, OC))
    record("lin", lin, torch.randn(N, IN), t)
    meta.update(lin_N=N, lin_IN=IN, lin_OC=OC)

    B, C, OCc, H, W = 2, 4, 6, 5, 5
    conv = spectral_norm(nn.Conv2d(C, OCc, 3, padding=1))
    record("conv", conv, torch.randn(B, C, H, W), t)
    meta.update(conv_B=B, conv_C=C, conv_OC=OCc, conv_H=H, conv_W=W)

    t = {k: v.float().contiguous() for k, v in t.items()}
    path = os.path.join("tests", "fixtures", "spectral_norm.safetensors")
    st.save(path, t, meta)
    print("wrote", path, sum(v.numel() for v in t.values()) * 4, "bytes of data")


if __name__ == "__main__":
    main()
