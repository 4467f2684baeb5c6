"""Attention fixtures for tests/test_sn_attn.c.

op.*:    the raw single-head attention kernel on random qkv (B, 3C, N): scores q^T k / sqrt(C),
         softmax over keys, out = v A^T; output, probabilities and the gradient of
         (out * r).sum() with respect to qkv.
block.*: the initializer U-Net's attention block (method.md section 5.5, official
         models/unet.py Attention with one head): GroupNorm(32, C, eps 1e-6) -> 1x1 conv to
         q, k, v -> attention -> 1x1 conv -> + x. The output conv is zero-initialised in the
         real model; here every parameter is random so that all gradients are non-trivial.
Run from the repository root: /usr/bin/python3 ref/fixtures_attn.py
"""
import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(1)


def attention(qkv):
    """qkv (B, 3C, N) -> out (B, C, N), probs (B, N, N)."""
    C = qkv.shape[1] // 3
    q, k, v = qkv.split(C, dim=1)
    s = torch.bmm(q.transpose(1, 2), k) * (C ** -0.5)  # (B, N, N): s[b, i, j] = q_i . k_j
    a = s.softmax(dim=-1)
    out = torch.bmm(v, a.transpose(1, 2))  # (B, C, N): out[b, c, i] = sum_j a[b, i, j] v[b, c, j]
    return out, a


class AttnBlock(nn.Module):
    """Parameter names follow the official state_dict (norm, to_qkv, to_out)."""

    def __init__(self, C):
        super().__init__()
        self.norm = nn.GroupNorm(32, C, eps=1e-6)
        self.to_qkv = nn.Conv2d(C, 3 * C, 1)
        self.to_out = nn.Conv2d(C, C, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        qkv = self.to_qkv(self.norm(x)).reshape(B, 3 * C, H * W)
        o, _ = attention(qkv)
        return x + self.to_out(o.reshape(B, C, H, W))


def main():
    t, meta = {}, {}

    # Raw kernel: scores spread wide enough that the softmax is far from uniform.
    B, C, N = 2, 8, 12
    qkv = (1.5 * torch.randn(B, 3 * C, N)).requires_grad_(True)
    out, probs = attention(qkv)
    r = torch.randn_like(out)
    (out * r).sum().backward()
    t.update({"op.in.qkv": qkv.detach(), "op.in.r": r, "op.out.y": out.detach(),
              "op.out.probs": probs.detach(), "op.grad.qkv": qkv.grad})
    meta.update(op_B=B, op_C=C, op_N=N)

    # Whole block.
    B, C, H, W = 2, 64, 4, 4
    m = AttnBlock(C)
    with torch.no_grad():
        m.norm.weight.copy_(1 + 0.2 * torch.randn(C))
        m.norm.bias.copy_(0.2 * torch.randn(C))
        m.to_out.weight.copy_(torch.randn(C, C, 1, 1) / math.sqrt(C))
        m.to_out.bias.copy_(0.1 * torch.randn(C))
        # Larger q/k weights than the default init, so attention is not nearly uniform.
        m.to_qkv.weight.mul_(3.0)
    x = (0.5 + 2 * torch.randn(B, C, H, W)).requires_grad_(True)
    y = m(x)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    t.update({"block.in.x": x.detach(), "block.in.r": r, "block.out.y": y.detach(),
              "block.grad.x": x.grad})
    for name, p in m.named_parameters():
        t["block.param." + name] = p.detach()
        t["block.grad." + name] = p.grad
    meta.update(block_B=B, block_C=C, block_H=H, block_W=W, block_G=32, block_eps=1e-6)

    t = {k: v.float().contiguous() for k, v in t.items()}
    path = os.path.join("tests", "fixtures", "attention.safetensors")
    st.save(path, t, meta)
    print("wrote", path, sum(v.numel() for v in t.values()) * 4, "bytes of data")


if __name__ == "__main__":
    main()
