"""PyTorch twin of the non-GEMM layers (src/ops/cpu/{pool,act,groupnorm,dropout,tensor_ops,
embedding}.c): writes tests/fixtures/layers.safetensors for tests/test_layers.c.

Every layer gets `<layer>.in.*` inputs, `<layer>.in.r` (the upstream gradient: the loss is
(out * r).sum()), `<layer>.out.*` outputs and `<layer>.grad.*` gradients from autograd, all
float32. Sizes travel as tensor shapes and as `<layer>.<size>` metadata.
Run from the repository root: /usr/bin/python3 ref/fixtures_layers.py
"""
import copy
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

torch.manual_seed(1234)
T, META = {}, {}


def put(layer, kind, name, t):
    T[f"{layer}.{kind}.{name}"] = t.detach().float().contiguous()


def meta(layer, **sizes):
    for k, v in sizes.items():
        META[f"{layer}.{k}"] = int(v)


def leaf(t):
    return t.clone().requires_grad_(True)


def backward(layer, out, inputs, name_out="y"):
    """Stores out and r, runs (out * r).sum() backward and stores each input's gradient."""
    r = torch.randn_like(out)
    (out * r).sum().backward()
    put(layer, "in", "r", r)
    put(layer, "out", name_out, out)
    for name, t in inputs.items():
        put(layer, "in", name, t)
        put(layer, "grad", name, t.grad)


# ---- pooling and upsampling (B, C, H, W) --------------------------------------------------
x = leaf(torch.randn(2, 3, 4, 6))
backward("avgpool", F.avg_pool2d(x, 2), {"x": x})
meta("avgpool", BC=6, H=4, W=6)

x = leaf(torch.randn(2, 3, 3, 5))
backward("upsample", F.interpolate(x, scale_factor=2, mode="nearest"), {"x": x})
meta("upsample", BC=6, H=3, W=5)

# ---- activations: a few exact zeros pin down the kink convention (gradient at 0 is the
# left one: 0 for ReLU, slope for LeakyReLU), large magnitudes exercise SiLU's exp overflow.
base = torch.randn(4, 50) * 3
base.view(-1)[::37] = 0.0
base.view(-1)[5] = 40.0
base.view(-1)[6] = -40.0
base.view(-1)[7] = 100.0
base.view(-1)[8] = -100.0
for name, fn in (("lrelu", lambda t: F.leaky_relu(t, 0.2)), ("relu", F.relu), ("silu", F.silu)):
    x = leaf(base)
    backward(name, fn(x), {"x": x})
    meta(name, n=base.numel())

# ---- group norm: a generic shape, the toy initializer's (B, 64) features (HW = 1, 2 values
# per group), the U-Net's 64 channels in 32 groups, and an input far from zero mean.
GN_CASES = (
    ("gn", 2, 8, 3, 3, 4, 0.0),
    ("gn_toy", 5, 64, 1, 1, 32, 0.0),
    ("gn_unet", 2, 64, 4, 4, 32, 0.0),
    ("gn_offset", 2, 16, 4, 4, 4, 50.0),
)
for layer, B, C, H, W, G, shift in GN_CASES:
    gn = torch.nn.GroupNorm(G, C, eps=1e-6)
    with torch.no_grad():
        gn.weight.copy_(1 + 0.5 * torch.randn(C))
        gn.bias.copy_(0.5 * torch.randn(C))
    x = leaf(torch.randn(B, C, H, W) + shift)
    y = gn(x)
    _, mean, rstd = torch.native_group_norm(x.detach(), gn.weight.detach(), gn.bias.detach(),
                                            B, C, H * W, G, 1e-6)
    backward(layer, y, {"x": x})
    put(layer, "param", "gamma", gn.weight)
    put(layer, "param", "beta", gn.bias)
    put(layer, "grad", "gamma", gn.weight.grad)
    put(layer, "grad", "beta", gn.bias.grad)
    put(layer, "out", "mean", mean.reshape(B, G))
    put(layer, "out", "rstd", rstd.reshape(B, G))
    # The same layer in float64 on the same float32 values, rounded once: torch's float32
    # moments lose digits where a group's values are close together (the toy's pairs) or far
    # from zero mean, and the C kernel, which sums in double, is held to this tighter reference.
    gn64 = copy.deepcopy(gn).double()
    gn64.zero_grad(set_to_none=True)
    x64 = leaf(x.detach().double())
    y64 = gn64(x64)
    (y64 * T[f"{layer}.in.r"].double()).sum().backward()
    _, mean64, rstd64 = torch.native_group_norm(x64.detach(), gn64.weight.detach(),
                                                gn64.bias.detach(), B, C, H * W, G, 1e-6)
    put(layer, "out64", "y", y64)
    put(layer, "out64", "mean", mean64.reshape(B, G))
    put(layer, "out64", "rstd", rstd64.reshape(B, G))
    put(layer, "grad64", "x", x64.grad)
    put(layer, "grad64", "gamma", gn64.weight.grad)
    put(layer, "grad64", "beta", gn64.bias.grad)
    meta(layer, B=B, C=C, HW=H * W, G=G)

# ---- dropout: torch's own mask cannot be reproduced in C (different generator), so the twin
# applies a stored keep mask exactly as F.dropout does: x * (keep / (1 - p)).
p = 0.3
x = leaf(torch.randn(3, 50))
keep = torch.bernoulli(torch.full_like(x, 1 - p))
backward("dropout", x * keep.div(1 - p), {"x": x})
put("dropout", "in", "keep", keep)
META["dropout.p"] = p
meta("dropout", n=x.numel())

# ---- tensor ops -----------------------------------------------------------------------------
a, b = leaf(torch.randn(2, 3, 2, 2)), leaf(torch.randn(2, 5, 2, 2))
backward("concat", torch.cat([a, b], dim=1), {"a": a, "b": b})
meta("concat", B=2, Ca=3, Cb=5, HW=4)

x = leaf(torch.randn(2, 5, 3, 4))
backward("spatial_sum", x.sum(dim=(2, 3)), {"x": x})
meta("spatial_sum", B=2, C=5, HW=12)

x, e = leaf(torch.randn(2, 5, 3, 4)), leaf(torch.randn(2, 5))
backward("add_channel", x + e[:, :, None, None], {"x": x, "add": e})
meta("add_channel", B=2, C=5, HW=12)


# ---- noise-level embedding (method.md §5.4) ------------------------------------------------
def logsnr_to_tau(logsnr):
    """In float64, then rounded once: the C function computes in double too."""
    lam = logsnr.double().clamp(-20, 20)
    return (1000 * (2 / math.pi) * torch.atan(torch.exp(-lam / 2))).float()


def timestep_embedding(tau, D):
    """The official float32 computation, verbatim."""
    half = D // 2
    emb = math.log(10000) / (half - 1)
    emb = torch.exp(torch.arange(half) * -emb)
    emb = tau[:, None] * emb[None, :]
    return torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)


# The logSNR of the 7 levels of method.md §1.4, values past the clamp, and random ones.
logsnr = torch.cat([torch.tensor([9.8, 2.688820, 1.196880, 0.141071, -0.876073, -2.172388, -5.1,
                                  25.0, -30.0, 20.0, -20.0, 0.0]), torch.rand(8) * 30 - 15])
put("tau", "in", "logsnr", logsnr)
put("tau", "out", "tau", logsnr_to_tau(logsnr))
meta("tau", n=logsnr.numel())

for D in (128, 64):
    # Large tau (up to ~1000) and small tau (< 8) separately: the test holds them to
    # different tolerances, see test_layers.c.
    for kind, tau in (("", torch.cat([logsnr_to_tau(logsnr[:7]), torch.rand(5) * 1000])),
                      ("_small", torch.rand(6) * 8)):
        layer = f"temb{D}{kind}"
        t = leaf(tau)
        backward(layer, timestep_embedding(t, D), {"tau": t})
        meta(layer, B=tau.numel(), D=D)

out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                        "layers.safetensors")
st.save(os.path.normpath(out_path), T, META)
print(f"wrote {os.path.normpath(out_path)}: {len(T)} tensors")
