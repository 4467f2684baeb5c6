#!/usr/bin/python3
"""Converts a checkpoint of the official CDRL image code (a torch.save dict) into cdrl's
safetensors weights (docs/formats.md, "Official checkpoints").

Read: pi_state_dict (the EBM, models/ebm*.py), p_state_dict (the U-Net initializer,
models/unet*.py) and the torch_ema states pi_ema_state_dict / p_ema_state_dict ({decay,
num_updates, shadow_params: a list in model.parameters() order, collected_params}). Written:
ebm.<key> (parameters and the spectral-norm buffers weight_u, weight_v), init.<key>,
ebm_ema.<key>, init_ema.<key> (parameters only: torch_ema averages parameters, never buffers)
and the metadata format, version, config. Left out: optimizer states and the training step
(cdrl resumes only its own checkpoints). The keys and shapes are checked against the PyTorch
twins (ref/img_twin.py, ref/unet_twin.py) built from the configuration.

Usage: /usr/bin/python3 tools/convert_official.py IN.pth OUT.safetensors
           [--config JSON|FILE] [--n-classes N]
--config is a JSON object {"ebm": {...}, "unet": {...}} whose entries override the official
CIFAR-10 sizes printed by --print-config; --n-classes N sets both networks' class count.
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ref"))
import st  # noqa: E402
from img_twin import ImgEBM  # noqa: E402
from unet_twin import Unet  # noqa: E402

FORMAT, VERSION = "cdrl-image-weights", "1"

# The official CIFAR-10 networks (ebm.py: ch = temb_dim = 128; unet.py: dim 64, three levels).
DEFAULT = {
    "ebm": dict(in_ch=3, res=32, ch=128, ch_mult=[1, 2, 2, 2], n_blocks=8, temb_dim=128,
                n_classes=0),
    "unet": dict(in_ch=3, resolution=32, dim=64, dim_mults=[1, 1, 1], num_res_blocks=3,
                 attn_resolutions=[8, 16], dropout=0.1, n_classes=0),
}
SOURCES = [  # (network, official model key, official EMA key, cdrl prefix, cdrl EMA prefix)
    ("ebm", "pi_state_dict", "pi_ema_state_dict", "ebm.", "ebm_ema."),
    ("unet", "p_state_dict", "p_ema_state_dict", "init.", "init_ema."),
]


class ConvertError(Exception):
    pass


def resolve_config(text=None, n_classes=None):
    """The default sizes, overridden by the JSON text (or the file it names) and n_classes."""
    cfg = json.loads(json.dumps(DEFAULT))
    if text:
        if os.path.isfile(text):
            with open(text) as f:
                text = f.read()
        try:
            user = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConvertError(f"--config: not JSON ({e})")
        for net, entries in user.items():
            if net not in cfg or not isinstance(entries, dict):
                raise ConvertError(f"--config: unknown section '{net}' (expected 'ebm', 'unet')")
            for k, v in entries.items():
                if k not in cfg[net]:
                    raise ConvertError(f"--config: unknown key '{net}.{k}' "
                                       f"(known: {', '.join(cfg[net])})")
                cfg[net][k] = v
    if n_classes is not None:
        cfg["ebm"]["n_classes"] = cfg["unet"]["n_classes"] = n_classes
    return cfg


def build_twin(net, c):
    if net == "ebm":
        return ImgEBM(in_ch=c["in_ch"], ch=c["ch"], temb_dim=c["temb_dim"],
                      ch_mult=tuple(c["ch_mult"]), n_blocks=c["n_blocks"],
                      n_classes=c["n_classes"])
    return Unet(in_ch=c["in_ch"], resolution=c["resolution"], dim=c["dim"],
                dim_mults=tuple(c["dim_mults"]), num_res_blocks=c["num_res_blocks"],
                attn_resolutions=tuple(c["attn_resolutions"]), dropout=c["dropout"],
                n_classes=c["n_classes"])


def strip_prefix(sd):
    """Keys saved from a DataParallel / DDP wrapper start with 'module.'; drop it."""
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def names_list(keys, n=4):
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def convert_net(ckpt, net, key, ema_key, prefix, ema_prefix, cfg, out, meta):
    hint = f"check the '{net}' configuration (--config, --n-classes)"
    if key not in ckpt:
        raise ConvertError(f"'{key}' missing: not an official CDRL checkpoint "
                           f"(top-level keys: {names_list(ckpt.keys())})")
    sd = ckpt[key]
    if not isinstance(sd, dict):
        raise ConvertError(f"'{key}' is a {type(sd).__name__}, not a state_dict")
    sd = strip_prefix(sd)
    twin = build_twin(net, cfg[net])
    want = twin.state_dict()
    missing, extra = set(want) - set(sd), set(sd) - set(want)
    if missing or extra:
        msg = f"{key}: keys differ from the {net} the configuration describes;"
        if missing:
            msg += f" missing {names_list(missing)};"
        if extra:
            msg += f" unexpected {names_list(extra)};"
        raise ConvertError(msg + " " + hint)
    for k, w in want.items():
        if not isinstance(sd[k], torch.Tensor) or tuple(sd[k].shape) != tuple(w.shape):
            found = tuple(sd[k].shape) if isinstance(sd[k], torch.Tensor) else type(sd[k]).__name__
            raise ConvertError(f"{key}: '{k}' has shape {found}, the configuration gives "
                               f"{tuple(w.shape)}; {hint}")
    for k in want:  # the twin's state_dict order
        out[prefix + k] = sd[k].detach().to(torch.float32).cpu().contiguous()

    # torch_ema keeps shadow_params in the order of model.parameters(). The official
    # state_dict lists each module's parameters before its buffers, module by module, as
    # parameters() walks them: its keys minus the buffers are that order, whatever the
    # twin's registration order (the two agree for the twins; checked below).
    params = dict(twin.named_parameters())
    order = [k for k in sd if k in params]
    twin_order = list(params)
    if order != twin_order:
        print(f"note: {key} lists parameters in another order than the twin; "
              f"mapping the EMA by the checkpoint's order", file=sys.stderr)
    if ema_key not in ckpt:
        raise ConvertError(f"'{ema_key}' missing: not an official CDRL checkpoint")
    ema = ckpt[ema_key]
    if not isinstance(ema, dict) or "shadow_params" not in ema:
        raise ConvertError(f"{ema_key}: not a torch_ema state_dict (no 'shadow_params')")
    shadow = list(ema["shadow_params"])
    if len(shadow) != len(order):
        raise ConvertError(f"{ema_key}: {len(shadow)} shadow parameters, the {net} has "
                           f"{len(order)}; {hint}")
    for k, s in zip(order, shadow):
        if tuple(s.shape) != tuple(params[k].shape):
            raise ConvertError(f"{ema_key}: shadow of '{k}' has shape {tuple(s.shape)}, "
                               f"want {tuple(params[k].shape)} (parameter order differs?)")
    ema_of = dict(zip(order, shadow))
    for k in twin_order:
        out[ema_prefix + k] = ema_of[k].detach().to(torch.float32).cpu().contiguous()
    for field in ("decay", "num_updates"):
        if ema.get(field) is not None:
            meta[f"{ema_prefix.rstrip('.')}.{field}"] = ema[field]


def convert(path_in, path_out, cfg):
    """Raises ConvertError with a message naming what does not fit."""
    try:
        ckpt = torch.load(path_in, map_location="cpu")
    except Exception as e:  # a torch.load failure has many types
        raise ConvertError(f"{path_in}: cannot be read by torch.load ({e})")
    if not isinstance(ckpt, dict):
        raise ConvertError(f"{path_in}: holds a {type(ckpt).__name__}, not the official dict")
    out, meta = {}, {}
    for net, key, ema_key, prefix, ema_prefix in SOURCES:
        convert_net(ckpt, net, key, ema_key, prefix, ema_prefix, cfg, out, meta)
    meta.update({"format": FORMAT, "version": VERSION,
                 "config": json.dumps(cfg, separators=(",", ":"), sort_keys=True)})
    st.save(path_out, out, meta)
    return out, meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", nargs="?", help="official checkpoint (.pth)")
    ap.add_argument("output", nargs="?", help="cdrl weights (.safetensors)")
    ap.add_argument("--config", help="JSON object or file: {\"ebm\": {..}, \"unet\": {..}}")
    ap.add_argument("--n-classes", type=int, help="class count of both networks (0: none)")
    ap.add_argument("--print-config", action="store_true", help="print the resolved sizes")
    a = ap.parse_args(argv)
    try:
        cfg = resolve_config(a.config, a.n_classes)
        if a.print_config:
            print(json.dumps(cfg, indent=1))
            if not a.input:
                return 0
        if not a.input or not a.output:
            ap.error("IN.pth and OUT.safetensors are required")
        out, _ = convert(a.input, a.output, cfg)
    except ConvertError as e:
        print(f"convert_official: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {a.output}: {len(out)} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
