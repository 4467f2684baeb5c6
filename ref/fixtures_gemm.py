"""Fixtures for tests/test_gemm_layers.c: torch.nn.Linear and torch.nn.Conv2d (stride 1,
padding K//2) forward, and the gradients of (out * r).sum() with respect to the input, the
weight and the bias.

linear.safetensors: case "fc" (N=11, IC=13, OC=9, with bias) and "nobias" (N=4, IC=6, OC=5).
conv2d.safetensors: "k3" (3x3, B=3, IC=5, OC=7, H=6, W=5: several images per chunk),
"k1" (1x1, same sizes) and "band" (3x3, B=2, IC=3, OC=4, H=20, W=17: images large enough to
be cut into bands of rows, the last one short).
Each case stores <case>.in.x, .in.r, .param.w, .param.b, .out.y, .grad.x, .grad.w, .grad.b;
sizes are in the metadata as <case>.N/IC/OC or <case>.B/IC/OC/H/W/K.
Run from the repository root: /usr/bin/python3 ref/fixtures_gemm.py
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(1)


def record(t, prefix, m, x):
    x = x.clone().requires_grad_(True)
    y = m(x)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    t[prefix + ".in.x"] = x.detach()
    t[prefix + ".in.r"] = r
    t[prefix + ".param.w"] = m.weight.detach()
    t[prefix + ".out.y"] = y.detach()
    t[prefix + ".grad.x"] = x.grad
    t[prefix + ".grad.w"] = m.weight.grad
    if m.bias is not None:
        t[prefix + ".param.b"] = m.bias.detach()
        t[prefix + ".grad.b"] = m.bias.grad


def linear_cases():
    t, meta = {}, {}
    for name, (N, IC, OC, bias) in {"fc": (11, 13, 9, True), "nobias": (4, 6, 5, False)}.items():
        m = nn.Linear(IC, OC, bias=bias)
        record(t, name, m, torch.randn(N, IC))
        meta.update({name + ".N": N, name + ".IC": IC, name + ".OC": OC})
    return t, meta


def conv_cases():
    t, meta = {}, {}
    cases = {"k3": (3, 5, 7, 6, 5, 3), "k1": (3, 5, 7, 6, 5, 1), "band": (2, 3, 4, 20, 17, 3)}
    for name, (B, IC, OC, H, W, K) in cases.items():
        m = nn.Conv2d(IC, OC, K, padding=K // 2)
        record(t, name, m, torch.randn(B, IC, H, W))
        meta.update({name + ".B": B, name + ".IC": IC, name + ".OC": OC, name + ".H": H,
                     name + ".W": W, name + ".K": K})
    return t, meta


if __name__ == "__main__":
    out = os.path.join("tests", "fixtures")
    os.makedirs(out, exist_ok=True)
    t, meta = linear_cases()
    st.save(os.path.join(out, "linear.safetensors"), t, meta)
    t, meta = conv_cases()
    st.save(os.path.join(out, "conv2d.safetensors"), t, meta)
    print("wrote tests/fixtures/linear.safetensors, tests/fixtures/conv2d.safetensors")
