"""Fixture for tests/test_official.c: an official-layout CDRL checkpoint, converted by
tools/convert_official.py, plus what the PyTorch modules compute from the official dict.

Networks (the twins ref/img_twin.py and ref/unet_twin.py, whose keys are the official ones):
  EBM:   3x8x8, ch = temb_dim = 4, ch_mult (1, 2), 1 block per level, 10 classes
  U-Net: 1x8x8, dim 32 (GroupNorm's 32 groups need 32), one level, 1 ResBlock, no
         attention resolutions (the middle attention remains), 10 classes. Its 184k parameters
         held twice (model and EMA) make most of the file; nothing smaller runs in C.
Weights: PyTorch's init, then every tensor perturbed (gains and GroupNorm affine away from
1 and 0, the zero-initialised U-Net weights non-zero) so that a misplaced tensor shows; one
train-mode EBM forward iterates u, v. EMA shadows: perturbed copies in parameters() order.
Saved with torch.save as the official script does (through DistributedDataParallel: keys
start with "module."; with {pi,p}_optimizer and {pi,p}_lr_scheduler) to a temporary file,
then converted with the converter's command line.

Stored: the converted tensors (ebm.*, init.*, ebm_ema.*, init_ema.*) and metadata, in.x_ebm,
in.x_unet, in.tau (L = 2), in.level, in.label (int32, 0 = null label), and in eval mode
ref.f / ref.dx (EBM f and df/dx of f.sum()), ref.mu (U-Net), ref.*_ema with the EMA weights
copied into the modules (torch_ema copy_to; the SN buffers stay the model's).
Run from the repository root: /usr/bin/python3 ref/fixtures_official.py
"""
import json
import os
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
from img_twin import ImgEBM  # noqa: E402
from unet_twin import Unet  # noqa: E402

torch.manual_seed(11)
torch.set_num_threads(1)
OUT = "tests/fixtures/official.safetensors"

CFG = {
    "ebm": dict(in_ch=3, res=8, ch=4, ch_mult=[1, 2], n_blocks=1, temb_dim=4, n_classes=10),
    "unet": dict(in_ch=1, resolution=8, dim=32, dim_mults=[1], num_res_blocks=1,
                 attn_resolutions=[], dropout=0.1, n_classes=10),
}
B = 4
TAU = torch.tensor([37.5, 803.25], dtype=torch.float32)
LEVEL = torch.tensor([0, 1, 1, 0])
LABEL = torch.tensor([0, 3, 10, 7])


def build():
    e, u = CFG["ebm"], CFG["unet"]
    ebm = ImgEBM(in_ch=e["in_ch"], ch=e["ch"], temb_dim=e["temb_dim"], ch_mult=tuple(e["ch_mult"]),
                 n_blocks=e["n_blocks"], n_classes=e["n_classes"])
    unet = Unet(in_ch=u["in_ch"], resolution=u["resolution"], dim=u["dim"],
                dim_mults=tuple(u["dim_mults"]), num_res_blocks=u["num_res_blocks"],
                attn_resolutions=tuple(u["attn_resolutions"]), dropout=u["dropout"],
                n_classes=u["n_classes"])
    return ebm, unet


def perturb(model):
    with torch.no_grad():
        for k, p in model.named_parameters():
            if p.dim() == 1 and k.endswith("weight") or k.endswith(".g"):
                p.copy_(1.0 + 0.3 * torch.randn_like(p))  # GroupNorm gamma, EBM gains
            elif p.dim() == 1 or p.abs().max() == 0:
                p.copy_(0.2 * torch.randn_like(p) / max(1.0, p.numel() ** 0.25))
            else:
                p.add_(0.1 * p.std() * torch.randn_like(p))


def ema_state(model, scale):
    """torch_ema 0.3's state_dict(): shadows in parameters() order, perturbed copies."""
    shadow = [p.detach() + scale * (p.detach().std() if p.numel() > 1 else 1.0) * torch.randn_like(p)
              for p in model.parameters()]
    return {"decay": 0.9999, "num_updates": 1234, "shadow_params": shadow,
            "collected_params": None}


def ddp_keys(sd):
    return type(sd)(("module." + k, v) for k, v in sd.items())


def plain_keys(sd):
    return {k[len("module."):]: v for k, v in sd.items()}


def copy_ema(model, ema):
    with torch.no_grad():
        for p, s in zip(model.parameters(), ema["shadow_params"]):
            p.copy_(s)


def ebm_ref(ebm, x):
    ebm.eval()
    x = x.clone().requires_grad_(True)
    f = ebm(x, TAU[LEVEL], LABEL)
    f.sum().backward()
    return f.detach(), x.grad.detach()


def main():
    ebm, unet = build()
    perturb(ebm)
    perturb(unet)
    x_ebm = torch.randn(B, CFG["ebm"]["in_ch"], CFG["ebm"]["res"], CFG["ebm"]["res"])
    x_unet = torch.rand(B, CFG["unet"]["in_ch"], CFG["unet"]["resolution"],
                        CFG["unet"]["resolution"]) * 2 - 1
    ebm.train()
    with torch.no_grad():
        ebm(x_ebm, TAU[LEVEL], LABEL)  # one power iteration: u, v no longer the initial ones
    # The official training script saves through DistributedDataParallel: every key gains
    # "module.", and its optimizer and scheduler states come along.
    opt_pi = torch.optim.Adam(ebm.parameters(), 1e-4)
    opt_p = torch.optim.AdamW(unet.parameters(), 1e-4)
    official = {
        "pi_state_dict": ddp_keys(ebm.state_dict()), "p_state_dict": ddp_keys(unet.state_dict()),
        "pi_ema_state_dict": ema_state(ebm, 0.05), "p_ema_state_dict": ema_state(unet, 0.05),
        "pi_optimizer": opt_pi.state_dict(), "p_optimizer": opt_p.state_dict(),
        "pi_lr_scheduler": torch.optim.lr_scheduler.LambdaLR(opt_pi, lambda i: 1.0).state_dict(),
        "p_lr_scheduler": torch.optim.lr_scheduler.LambdaLR(opt_p, lambda i: 1.0).state_dict(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        pth, conv = os.path.join(tmp, "official.pth"), os.path.join(tmp, "converted.safetensors")
        torch.save(official, pth)
        tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools",
                            "convert_official.py")
        subprocess.run([sys.executable, tool, pth, conv, "--config", json.dumps(CFG)], check=True)
        tensors, meta = st.load(conv)
        ckpt = torch.load(pth)

    # References from modules loaded with the official dict alone.
    e2, u2 = build()
    e2.load_state_dict(plain_keys(ckpt["pi_state_dict"]))
    u2.load_state_dict(plain_keys(ckpt["p_state_dict"]))
    u2.eval()
    t = dict(tensors)
    f, dx = ebm_ref(e2, x_ebm)
    with torch.no_grad():
        mu = u2(x_unet, TAU[LEVEL], LABEL)
    copy_ema(e2, ckpt["pi_ema_state_dict"])
    copy_ema(u2, ckpt["p_ema_state_dict"])
    f_ema, dx_ema = ebm_ref(e2, x_ebm)
    with torch.no_grad():
        mu_ema = u2(x_unet, TAU[LEVEL], LABEL)
    print("f", f.tolist(), "f_ema", f_ema.tolist())
    print("|mu - mu_ema| max", float((mu - mu_ema).abs().max()))
    t.update({"in.x_ebm": x_ebm, "in.x_unet": x_unet, "in.tau": TAU,
              "in.level": LEVEL.to(torch.int32), "in.label": LABEL.to(torch.int32),
              "ref.f": f, "ref.dx": dx, "ref.mu": mu,
              "ref.f_ema": f_ema, "ref.dx_ema": dx_ema, "ref.mu_ema": mu_ema})
    meta = dict(meta, B=B, L=TAU.numel())
    st.save(OUT, t, meta)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes, {len(t)} tensors)")


if __name__ == "__main__":
    main()
