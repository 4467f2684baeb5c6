"""PyTorch twin of the CDRL image energy network f(y, tau, c) (method.md §5.3, §5.4, §7): the
official models/ebm.py and models/ebm_cond.py module, with the same state_dict keys, so that
official checkpoints load into it (and into src/models/img_ebm.c) by name. The C network is
checked against it (tests/fixtures/img_ebm.safetensors, ref/fixtures_img_ebm.py).
Left out: add_q, the swish activation option (both off in every official run), the initializer
U-Net (ref/unet_twin.py). Runs with Debian's torch 1.13 (/usr/bin/python3).

Conventions the C side follows:
* forward takes tau = 1000*(2/pi)*atan(exp(-lambda/2)) per image, as the C network's prepare
  does, computed once in double per level (schedule) and rounded to float32. The official
  module takes lambda and forms tau in float32 (forward_logsnr below does that); the two agree
  to about one float32 ulp of tau.
* Sinusoid frequencies exp((k * -ln 10000) / (half - 1)), k < half = temb_dim/2, [sin, cos].
* Labels: class c in 0..n_classes, 0 = the null label (dataset class k is fed as k + 1).

State-dict keys (E = 4*temb_dim, W_l = ch*ch_mult[l]; SN layers have weight_orig, bias and the
buffers weight_u (out), weight_v (in*kh*kw)):
  temb_map1  (E, temb_dim) SN      temb_map2 (E, E) SN      y_map (E, n_classes+1) SN, cond only
  module_list.0            (ch, in_ch, 3, 3) SN conv
  module_list.K.conv1      (W_l, W_in, 3, 3) SN       module_list.K.conv2 (W_l, W_l, 3, 3) SN
  module_list.K.temb_map   (W_l, E) SN                module_list.K.g     (1, W_l, 1, 1)
  module_list.K.short_cut  (W_l, W_in, 3, 3) SN, only where W_in != W_l
  temb_final.weight        (W_last, E), no bias, no SN
K counts the pooling layers too: block k of level l is module_list.(1 + l*(n_blocks+1) + k).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

LRELU_SLOPE = 0.2


def lrelu(x):
    return F.leaky_relu(x, negative_slope=LRELU_SLOPE)


def sinusoid(tau, dim):
    """(B,) tau -> (B, dim) [sin..., cos...] with half = dim/2 frequencies (float32 as the
    official code forms them, also when tau is float64)."""
    half = dim // 2
    assert dim % 2 == 0 and half > 1
    freq = torch.exp(torch.arange(half, dtype=torch.float32) * -math.log(10000.0) / (half - 1))
    arg = tau[:, None] * freq.to(tau.dtype)[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


def logsnr_to_tau(logsnr):
    """The official float32 map lambda -> tau (models/ebm.py forward)."""
    return torch.atan(torch.exp(-0.5 * torch.clamp(logsnr, -20.0, 20.0))) / (0.5 * math.pi) * 1000.0


def sn_conv(c_in, c_out):
    return spectral_norm(nn.Conv2d(c_in, c_out, 3, padding=1))


def sn_linear(n_in, n_out):
    return spectral_norm(nn.Linear(n_in, n_out))


class EBMBlock(nn.Module):
    """x -> conv2(lrelu(conv1(lrelu(x)) + lrelu(temb_map(lrelu(e))))) * g + shortcut(x)."""

    def __init__(self, c_in, c_out, emb_dim):
        super().__init__()
        self.conv1 = sn_conv(c_in, c_out)
        self.conv2 = sn_conv(c_out, c_out)
        self.temb_map = sn_linear(emb_dim, c_out)
        self.g = nn.Parameter(torch.ones(1, c_out, 1, 1))
        self.short_cut = sn_conv(c_in, c_out) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        proj = lrelu(self.temb_map(lrelu(emb)))
        a = self.conv1(lrelu(x)) + proj[:, :, None, None]
        a = self.conv2(lrelu(a)) * self.g
        return a + self.short_cut(x)


class ImgEBM(nn.Module):
    """f(y, tau, c): (B, in_ch, H, W) images -> (B,) values. ch = temb_dim in the official
    code (one argument there); kept apart here only for small test networks."""

    def __init__(self, in_ch=3, ch=128, temb_dim=128, ch_mult=(1, 2, 2, 2), n_blocks=8,
                 n_classes=0):
        super().__init__()
        self.temb_dim, self.n_classes = temb_dim, n_classes
        emb = 4 * temb_dim
        self.temb_map1 = sn_linear(temb_dim, emb)
        self.temb_map2 = sn_linear(emb, emb)
        if n_classes > 0:
            self.y_map = sn_linear(n_classes + 1, emb)
        layers, c_in = [sn_conv(in_ch, ch)], ch
        for l, mult in enumerate(ch_mult):
            for _ in range(n_blocks):
                layers.append(EBMBlock(c_in, ch * mult, emb))
                c_in = ch * mult
            if l + 1 < len(ch_mult):
                layers.append(nn.AvgPool2d(2, 2))  # floor mode: odd sizes drop a row/column
        self.module_list = nn.ModuleList(layers)
        self.temb_final = nn.Linear(emb, c_in, bias=False)

    def embed(self, tau, label=None):
        """(B,) tau, (B,) labels (None: the null label) -> e (B, E), before its activation."""
        e = self.temb_map2(lrelu(self.temb_map1(sinusoid(tau, self.temb_dim))))
        if self.n_classes > 0:
            if label is None:
                label = torch.zeros(tau.shape[0], dtype=torch.long)
            onehot = F.one_hot(label, self.n_classes + 1).to(e.dtype)
            e = e + self.y_map(onehot)
        return e

    def forward(self, y, tau, label=None):
        e = self.embed(tau, label)
        h = self.module_list[0](y)
        for layer in self.module_list[1:]:
            h = layer(h, e) if isinstance(layer, EBMBlock) else layer(h)
        v = F.relu(h).sum(dim=(2, 3))
        return (v * self.temb_final(lrelu(e))).sum(dim=1)

    def forward_logsnr(self, y, logsnr, label=None):
        """The official call convention: logSNR in, tau formed in float32."""
        return self.forward(y, logsnr_to_tau(logsnr), label)


def official_param_count(cfg):
    """Trainable parameters of ImgEBM(**cfg), SN buffers excluded."""
    return sum(p.numel() for p in ImgEBM(**cfg).parameters())


if __name__ == "__main__":
    cifar = dict(in_ch=3, ch=128, temb_dim=128, ch_mult=(1, 2, 2, 2), n_blocks=8)
    print("CIFAR-10 EBM parameters:", official_param_count(cifar))
    print("ImageNet32 conditional EBM parameters:", official_param_count(dict(cifar, n_classes=1000)))
    m = ImgEBM(**cifar)
    print(len(m.state_dict()), "state_dict entries, e.g.", list(m.state_dict())[:6])
