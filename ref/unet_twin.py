"""PyTorch twin of the CDRL image initializer mu(x_j, lambda_j) (method.md §5.5, §7): the U-Net
of the official models/unet.py and models/unet_cond.py, with the same module tree, so its
state_dict keys are the official ones, and src/models/unet.c registers the same names in the
same order. Left out: tanh_out (CDRL runs residual=True, tanh_out=False), widths that change
across levels (the official up path only runs when every dim_mult is 1, see below), several
attention heads (CDRL uses one). Runs with Debian's torch 1.13: /usr/bin/python3.

Interface difference: forward takes tau = 1000 (2/pi) atan(exp(-lambda/2)) (what the C
prepare() receives), not lambda; tau_of_logsnr() is the official float32 map for reference.

Tensor names (C = dim, E = 4 dim, S the stack of skip tensors, r = 0..R-1 blocks per level):
  init_conv.{weight,bias}                         (C, in_ch, 3, 3), (C)
  time_mlp.1.{weight,bias}  time_mlp.3.{...}      (E, C), (E, E): time_mlp.0 is the sinusoid
  y_mlp.0.{weight,bias}                           (E, n_classes + 1), conditional only
  downs.l.k / ups.l.k / mid_block1, mid_block2:   ResBlock
      norm1.{weight,bias} (Cin)  norm2.{...} (C)  conv1 (C, Cin, 3, 3)  conv2 (C, C, 3, 3)
      mlp.1.{weight,bias} (2C, E): rows 0..C-1 scale, C..2C-1 shift; mlp.0 is the SiLU
      res_conv.{weight,bias} (C, Cin, 1, 1) when Cin != C (the up path's 2C -> C blocks)
  downs.l.k / ups.l.k / mid_attn:                 Attention
      norm.{weight,bias} (C)  to_qkv (3C, C, 1, 1), rows q|k|v  to_out (C, C, 1, 1)
  norm.{weight,bias} (C)  final_conv.{weight,bias} (in_ch, C, 3, 3)
k counts the modules of a level in order (ResBlock, its Attention when the level's size is in
attn_resolutions, ..., the resampling ResBlock last). State-dict order: init_conv, time_mlp,
y_mlp, downs, ups, mid_block1, mid_attn, mid_block2, norm, final_conv (registration order).
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

GN_GROUPS, GN_EPS = 32, 1e-6


def tau_of_logsnr(logsnr):
    """The official embedding input, in float32: atan(exp(-clamp(l)/2)) / (pi/2), times 1000."""
    u = torch.arctan(torch.exp(-0.5 * torch.clamp(logsnr, min=-20.0, max=20.0))) / (0.5 * np.pi)
    return u * 1000.0


def sinusoid(tau, dim):
    """(B,) -> (B, dim): [sin(tau w_k), cos(tau w_k)], w_k = exp(-k ln(10000) / (dim/2 - 1)),
    the exponent formed in float32 from the double ln(10000)/(half - 1), as the official code."""
    half = dim // 2
    step = math.log(10000.0) / (half - 1)
    w = torch.exp(torch.arange(half) * -step)
    a = tau[:, None] * w[None, :]
    return torch.cat([a.sin(), a.cos()], dim=1)


class TimeSinusoid(nn.Module):
    """Parameter-free first entry of time_mlp (keeps the official index of its Linears)."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, tau):
        return sinusoid(tau, self.dim)


class ResBlock(nn.Module):
    """GN-SiLU-[resample]-conv, FiLM by the time vector (scale, shift), GN-SiLU-dropout-conv,
    plus the (1x1-projected when widths differ, resampled) input."""

    def __init__(self, c_in, c_out, t_dim, resample=None, dropout=0.1):
        super().__init__()
        self.norm1 = nn.GroupNorm(GN_GROUPS, c_in, eps=GN_EPS)
        self.norm2 = nn.GroupNorm(GN_GROUPS, c_out, eps=GN_EPS)
        self.resample = resample
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        self.drop = nn.Dropout(dropout)  # no parameters: its name never reaches the state_dict
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(t_dim, 2 * c_out))
        self.res_conv = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def _resample(self, x):
        if self.resample == "down":
            return F.avg_pool2d(x, 2)
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return x

    def forward(self, x, t):
        h = F.silu(self.norm1(x))
        h, x = self._resample(h), self._resample(x)
        h = self.conv1(h)
        scale, shift = self.mlp(t)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.norm2(h) * (1.0 + scale) + shift)
        h = self.conv2(self.drop(h))
        return h + self.res_conv(x)


class Attention(nn.Module):
    """One-head self-attention over the H*W positions, residual, zero-initialised output."""

    def __init__(self, c):
        super().__init__()
        self.norm = nn.GroupNorm(GN_GROUPS, c, eps=GN_EPS)
        self.to_qkv = nn.Conv2d(c, 3 * c, 1)
        self.to_out = nn.Conv2d(c, c, 1)
        nn.init.zeros_(self.to_out.weight)

    def forward(self, x):
        B, C, H, W = x.shape
        q, k, v = self.to_qkv(self.norm(x)).reshape(B, 3 * C, H * W).chunk(3, dim=1)
        a = (torch.bmm(q.transpose(1, 2), k) * C ** -0.5).softmax(dim=-1)  # (B, N, N)
        o = torch.bmm(v, a.transpose(1, 2)).reshape(B, C, H, W)
        return self.to_out(o) + x


class Unet(nn.Module):
    def __init__(self, in_ch=3, resolution=32, dim=64, dim_mults=(1, 1, 1), num_res_blocks=3,
                 attn_resolutions=(8, 16), dropout=0.1, n_classes=0):
        super().__init__()
        # The official up path declares its first ResBlock of level (d_in, d_out) as 2 d_in ->
        # d_out but feeds it 2 d_out channels, and the final norm takes dim channels: it runs
        # only when every width equals dim.
        assert all(m == 1 for m in dim_mults), "the official U-Net runs only with dim_mults all 1"
        self.res, self.R, self.attn_res = resolution, num_res_blocks, tuple(attn_resolutions)
        self.n_levels, self.n_classes = len(dim_mults), n_classes
        C, E = dim, 4 * dim
        self.init_conv = nn.Conv2d(in_ch, C, 3, padding=1)
        self.time_mlp = nn.Sequential(TimeSinusoid(C), nn.Linear(C, E), nn.SiLU(), nn.Linear(E, E))
        if n_classes:
            self.y_mlp = nn.Sequential(nn.Linear(n_classes + 1, E))  # class 0 is "no label"
        self.downs, self.ups = nn.ModuleList(), nn.ModuleList()
        size = resolution
        for lvl in range(self.n_levels):
            mods = nn.ModuleList()
            for _ in range(num_res_blocks):
                mods.append(ResBlock(C, C, E, dropout=dropout))
                if size in self.attn_res:
                    mods.append(Attention(C))
            if lvl < self.n_levels - 1:
                mods.append(ResBlock(C, C, E, "down", dropout))
                size //= 2
            self.downs.append(mods)
        self.mid_block1 = ResBlock(C, C, E, dropout=dropout)
        self.mid_attn = Attention(C)  # at the lowest resolution whatever attn_resolutions says
        self.mid_block2 = ResBlock(C, C, E, dropout=dropout)
        for lvl in range(self.n_levels):
            mods = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                mods.append(ResBlock(2 * C, C, E, dropout=dropout))
                if size in self.attn_res:
                    mods.append(Attention(C))
            if lvl < self.n_levels - 1:
                mods.append(ResBlock(C, C, E, "up", dropout))
                size *= 2
            self.ups.append(mods)
        self.norm = nn.GroupNorm(GN_GROUPS, C, eps=GN_EPS)
        self.final_conv = nn.Conv2d(C, in_ch, 3, padding=1)
        nn.init.zeros_(self.final_conv.weight)  # its bias keeps the default init: mu = x + b

    def forward(self, x, tau, c=None):
        """x (B, in_ch, res, res); tau (B,) float32; c (B,) int64 in 0..n_classes (0 = null)."""
        t = self.time_mlp(tau)
        if self.n_classes:
            t = t + self.y_mlp(F.one_hot(c, self.n_classes + 1).float())
        hs = [self.init_conv(x)]
        for lvl, mods in enumerate(self.downs):
            k = 0
            for _ in range(self.R):
                h = mods[k](hs[-1], t)
                k += 1
                if h.shape[-1] in self.attn_res:
                    h = mods[k](h)
                    k += 1
                hs.append(h)
            if lvl < self.n_levels - 1:
                hs.append(mods[k](hs[-1], t))
        h = self.mid_block2(self.mid_attn(self.mid_block1(hs[-1], t)), t)
        for lvl, mods in enumerate(self.ups):
            k = 0
            for _ in range(self.R + 1):
                h = mods[k](torch.cat([h, hs.pop()], dim=1), t)
                k += 1
                if h.shape[-1] in self.attn_res:
                    h = mods[k](h)
                    k += 1
            if lvl < self.n_levels - 1:
                h = mods[k](h, t)
        assert not hs
        return x + self.final_conv(F.silu(self.norm(h)))


def n_params(m):
    return sum(p.numel() for p in m.parameters())


if __name__ == "__main__":
    cifar = Unet(3, 32, 64, (1, 1, 1), 3, (8, 16), 0.1, 0)
    imnet = Unet(3, 32, 64, (1, 1, 1), 2, (8, 16), 0.1, 1000)
    print("CIFAR-10 unconditional:", n_params(cifar))
    print("ImageNet32 conditional:", n_params(imnet))
