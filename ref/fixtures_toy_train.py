"""Toy-trainer fixture for the C parity test: a small configuration of ref/toy_twin.py trained
for 10 iterations from a fixed seed, with every input, random draw, intermediate result and the
final weights, EMA weights and Adam moments, plus two sampling chains (15 and 5 Langevin steps).
floor.* tensors hold |float32 run - float64 run| of the same computation (same weights, noise
and constants): the float32 noise each result carries, which a C test can scale into its
tolerance (the initializer's weights upstream of its GroupNorms carry the most).
Run from the repository root: /usr/bin/python3 ref/fixtures_toy_train.py
"""
import copy
import dataclasses
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402
import toy_twin as tw  # noqa: E402

SEED = 0
N_ITERS = 10
B = 64
N_PROBE = 8
N_CHAIN = 16
K_FAST = 5

# lr_gen 1e-4, not 1e-3: at 1e-3 the initializer's GroupNorm (2 channels a group) turns float32
# rounding into ~70% of some weights' change within 10 steps, which no parity test can use.
CFG = tw.ToyConfig(ch=32, ch_mult=(1, 2, 2, 2), temb_dim=16, ebm_blocks=1,
                   h_dim=64, t_dim=32, gen_blocks=1, T=6, K=15,
                   lr_ebm=1e-3, lr_gen=1e-4, warmup_ebm=4, warmup_gen=4, warmup_gen_offset=1,
                   ema_ebm=0.999, ema_gen=0.999, clip=1.0, accumulate_grads=False)


def draw_inputs():
    """Data batches, noise, probe points and chain noise, all float32, from fixed seeds."""
    rng = np.random.default_rng(SEED)
    g = torch.Generator().manual_seed(SEED)
    its = [(tw.checkerboard(B, rng), tw.draw_noise(CFG, B, g)) for _ in range(N_ITERS)]
    probe_y = 4.0 * torch.randn(N_PROBE, 2, generator=g)
    T, K = CFG.T, CFG.K
    chain = {"x_top": torch.randn(N_CHAIN, 2, generator=g),
             "xi_init": torch.randn(T, N_CHAIN, 2, generator=g),
             "xi_langevin": torch.randn(T, K, N_CHAIN, 2, generator=g)}
    chain_fast = {"x_top": torch.randn(N_CHAIN, 2, generator=g),
                  "xi_init": torch.randn(T, N_CHAIN, 2, generator=g),
                  "xi_langevin": torch.randn(T, K_FAST, N_CHAIN, 2, generator=g)}
    return its, probe_y, chain, chain_fast


def probe(state, y):
    """The EBM that iteration 0's Langevin sees: initial weights after the one power iteration
    of the train-mode F+ forward (it does not depend on the input). Per pair j at tau_{j-1}:
    value, input gradient and embedding, in eval mode, on a copy (the state is untouched).
    Before any power iteration the random u, v make W/(u'Wv) meaningless (f ~ 1e10)."""
    ebm, s, T = copy.deepcopy(state.ebm), state.sched, state.cfg.T
    ebm.train()
    with torch.no_grad():
        ebm(y[:1], s.tau[:1])
    ebm.eval()
    out = {f"probe.sn.{k}": v.clone() for k, v in ebm.state_dict().items()
           if k.endswith("weight_u") or k.endswith("weight_v")}
    f, grad, emb = [], [], []
    for j in range(1, T + 1):
        tau = s.tau[j - 1].expand(y.shape[0])
        yy = y.clone().requires_grad_(True)
        val = ebm(yy, tau)
        gy, = torch.autograd.grad(val.sum(), [yy])
        f.append(val.detach())
        grad.append(gy)
        with torch.no_grad():
            emb.append(ebm.embed(tau[:1])[0])
    out.update({"probe.f": torch.stack(f), "probe.grad": torch.stack(grad),
                "probe.emb": torch.stack(emb)})
    return out


def named_state(state, kind):
    """name -> tensor for the final parameters, EMA shadows or Adam moments of both nets."""
    out = {}
    for tag, net, ema, opt in (("ebm", state.ebm, state.ema_ebm, state.opt_ebm),
                               ("gen", state.gen, state.ema_gen, state.opt_gen)):
        params = list(net.named_parameters())
        if kind == "weights":
            out.update({f"final.{tag}.{k}": v for k, v in net.state_dict().items()})
        elif kind == "ema":
            out.update({f"final.{tag}_ema.{k}": s for (k, _), s in zip(params, ema.shadow)})
        else:
            for k, p in params:
                out[f"final.{tag}_adam_m.{k}"] = opt.state[p]["exp_avg"]
                out[f"final.{tag}_adam_v.{k}"] = opt.state[p]["exp_avg_sq"]
    return out


def run(dtype, inputs):
    """The whole fixture computation in one dtype; returns name -> tensor."""
    its, probe_y, chain, chain_fast = inputs
    state = tw.ToyState(CFG, seed=SEED, dtype=dtype)
    cast = lambda v: v.to(dtype) if v.is_floating_point() else v  # noqa: E731
    t = {}
    t.update({f"init.ebm.{k}": v.clone() for k, v in state.ebm.state_dict().items()})
    t.update({f"init.gen.{k}": v.clone() for k, v in state.gen.state_dict().items()})
    t.update(probe(state, cast(probe_y)))

    for k, (x, noise) in enumerate(its):
        out = tw.train_step(state, cast(x), {n: cast(v) for n, v in noise.items()})
        for name in ("f_pos", "f_neg", "x_neg", "y0"):
            t[f"it{k}.{name}"] = out[name]
        for name in ("loss_ebm", "loss_init", "gnorm_ebm", "gnorm_gen"):
            t[f"it{k}.{name}"] = out[name].reshape(1)
        for name in ("lr_ebm", "lr_gen"):
            t[f"it{k}.{name}"] = torch.tensor([out[name]], dtype=dtype)

    for kind in ("weights", "ema", "adam"):
        t.update({k: v.detach().clone() for k, v in named_state(state, kind).items()})

    # Chains sample with the EMA weights (and the live SN u/v), as the official sampler does.
    pe, pg = list(state.ebm.parameters()), list(state.gen.parameters())
    state.ema_ebm.swap(pe)
    state.ema_gen.swap(pg)
    for tag, c, sz2 in (("chain", chain, 1.0), ("chain_fast", chain_fast, CFG.K / K_FAST)):
        x0, levels = tw.sample_chain(state.ebm, state.gen, state.sched, cast(c["x_top"]),
                                     cast(c["xi_init"]), cast(c["xi_langevin"]), sz2)
        t[f"{tag}.levels"] = torch.stack(levels)
        t[f"{tag}.x0"] = x0
    state.ema_ebm.swap(pe)
    state.ema_gen.swap(pg)
    return t


def main():
    torch.set_num_threads(1)
    inputs = draw_inputs()
    t32 = run(torch.float32, inputs)
    t64 = run(torch.float64, inputs)
    for k in t32:
        if k.startswith("init."):
            assert torch.equal(t32[k].double(), t64[k]), k

    its, probe_y, chain, chain_fast = inputs
    t = {k: v.float().contiguous() for k, v in t32.items()}
    for k, (x, noise) in enumerate(its):
        t[f"it{k}.x"] = x
        t[f"it{k}.j"] = noise["j"].to(torch.int32)
        for name in ("eps", "xi_init", "xi_langevin"):
            t[f"it{k}.{name}"] = noise[name]
    t["probe.y"] = probe_y
    for tag, c in (("chain", chain), ("chain_fast", chain_fast)):
        for name, v in c.items():
            t[f"{tag}.{name}"] = v
    s = tw.ToySchedule(CFG.T, CFG.logsnr_min, CFG.logsnr_max, CFG.b)
    for name in ("tau", "sqrt_g", "sqrt_1mg", "sqrt_kappa", "sqrt_h", "tether", "init_std",
                 "loss_w"):
        t[f"sched.{name}"] = getattr(s, name)

    # float32 noise floors: per sample for the per-iteration vectors, per tensor otherwise.
    for k, v in t32.items():
        if k.startswith("init."):  # identical by construction (asserted above)
            continue
        d = (v.double() - t64[k]).abs()
        if k.startswith("it") and d.dim() >= 1 and d.shape[0] == B:
            d = d.reshape(B, -1).max(dim=1).values
        else:
            d = d.max().reshape(1)
        t[f"floor.{k}"] = d.float()

    meta = {k: (",".join(map(str, v)) if isinstance(v, tuple) else int(v) if isinstance(v, bool)
                else v) for k, v in dataclasses.asdict(CFG).items()}
    meta.update(seed=SEED, n_iters=N_ITERS, B=B, n_probe=N_PROBE, n_chain=N_CHAIN,
                K_fast=K_FAST, chain_sz2=f"{CFG.K / K_FAST!r}",
                note="chains use final.*_ema weights with final.ebm SN u/v; chain.levels[i] is "
                     "x_{T-1-i}; noise rows are indexed by pair j-1")
    path = os.path.join("tests", "fixtures", "toy_train.safetensors")
    st.save(path, t, meta)
    print("wrote", path, os.path.getsize(path), "bytes")
    worst = sorted(((t[k].max().item(), k) for k in t if k.startswith("floor.")), reverse=True)
    print("largest float32 noise floors:", ", ".join(f"{k} {v:.2e}" for v, k in worst[:6]))


if __name__ == "__main__":
    main()
