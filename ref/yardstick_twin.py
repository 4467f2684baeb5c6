"""NumPy/SciPy twin of the yardstick's distances (src/eval/fd_kid_pr.c, docs/yardstick.md):
the Fréchet distance as pytorch-fid computes it (scipy.linalg.sqrtm of S1 S2, real part),
KID as torch-fidelity (unbiased MMD^2, kernel (x.y/d + 1)^3, per subset) and improved
precision/recall (Kynkäänniemi et al. 2019, k-th neighbour radii from scipy's cdist).

  /usr/bin/python3 ref/yardstick_twin.py --fixture     writes tests/fixtures/yardstick.safetensors
  /usr/bin/python3 ref/yardstick_twin.py --check FILE  recomputes a `cdrl eval --dump-features`
                                                       file and prints cdrl's numbers beside it
"""
import argparse
import json
import os
import sys

import numpy as np
from scipy import linalg
from scipy.spatial.distance import cdist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st import load, save  # noqa: E402


def mean_cov(f):
    f = f.astype(np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def fd(mu1, s1, mu2, s2):
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def kid_subsets(x, y, ix, iy):
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    d = x.shape[1]
    out = []
    for a_idx, b_idx in zip(ix, iy):
        a, b = x[a_idx], y[b_idx]
        m = a.shape[0]
        kxx = (a @ a.T / d + 1) ** 3
        kyy = (b @ b.T / d + 1) ** 3
        kxy = (a @ b.T / d + 1) ** 3
        t = ((kxx.sum() - np.diag(kxx).sum()) + (kyy.sum() - np.diag(kyy).sum())) / (m * (m - 1))
        out.append(t - 2 * kxy.sum() / (m * m))
    return np.array(out)


def radii(f, k):
    d = cdist(f, f, "sqeuclidean")
    return np.partition(d, k, axis=1)[:, k]


def precision_recall(real, fake, k=3):
    real = real.astype(np.float64)
    fake = fake.astype(np.float64)
    rr, rf = radii(real, k), radii(fake, k)
    d = cdist(fake, real, "sqeuclidean")
    precision = float((d <= rr[None, :]).any(axis=1).mean())
    recall = float((d.T <= rf[None, :]).any(axis=1).mean())
    return precision, recall


def fixture(path):
    rng = np.random.default_rng(7)
    d, nr, nf, n_sub, m = 16, 400, 300, 5, 100
    a = rng.normal(size=(d, d)) / np.sqrt(d)
    real = (rng.normal(size=(nr, d)) @ a + 0.5).astype(np.float32)
    # a shifted, rescaled and partly rectified set: not Gaussian, overlapping the real one
    fake = np.maximum(rng.normal(size=(nf, d)) @ (1.3 * a) + 0.8, -0.2).astype(np.float32)
    mu_r, s_r = mean_cov(real)
    mu_f, s_f = mean_cov(fake)
    ix = np.stack([rng.choice(nr, m, replace=False) for _ in range(n_sub)]).astype(np.int32)
    iy = np.stack([rng.choice(nf, m, replace=False) for _ in range(n_sub)]).astype(np.int32)
    p, r = precision_recall(real, fake, 3)
    save(path, {
        "in.real": real, "in.fake": fake, "in.idx_real": ix, "in.idx_fake": iy,
        "out.mu_real": mu_r, "out.cov_real": s_r, "out.mu_fake": mu_f, "out.cov_fake": s_f,
        "out.fd": np.array([fd(mu_f, s_f, mu_r, s_r)]),
        "out.kid": kid_subsets(real, fake, ix, iy),
        "out.precision": np.array([p]), "out.recall": np.array([r]),
        "out.fd_self": np.array([fd(mu_r, s_r, mu_r, s_r)]),
    }, {"source": "ref/yardstick_twin.py --fixture", "k": 3})
    print(f"{path}: fd {fd(mu_f, s_f, mu_r, s_r):.6g} precision {p:.4f} recall {r:.4f}")


def check(path):
    t, meta = load(path)
    real, fake = t["real"], t["fake"]
    mu_f, s_f = mean_cov(fake)
    got = {k: float(v) for k, v in json.loads(meta["result"]).items()}
    want_fd = fd(mu_f, s_f, t["mu_ref"], t["cov_ref"])
    n_pr = min(len(fake), len(real))
    p, r = precision_recall(real[:n_pr], fake, int(meta.get("k", 3)))
    # cdrl draws its subsets with Philox: the twin draws its own, so the two KIDs agree only
    # to the subset noise (their per-subset agreement is the fixture's check)
    rng = np.random.default_rng(0)
    m = min(1000, len(real), len(fake))
    ix = [rng.choice(len(real), m, replace=False) for _ in range(100)]
    iy = [rng.choice(len(fake), m, replace=False) for _ in range(100)]
    kid = kid_subsets(real, fake, ix, iy).mean()
    rel = abs(got["fd"] - want_fd) / abs(want_fd)
    print(f"fd        cdrl {got['fd']:.8g}  scipy {want_fd:.8g}  rel diff {rel:.2e}")
    print(f"kid       cdrl {got['kid']:.8g}  numpy {kid:.8g}  (other subsets)")
    print(f"precision cdrl {got['precision']:.6f}  twin {p:.6f}")
    print(f"recall    cdrl {got['recall']:.6f}  twin {r:.6f}")
    return rel


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--fixture", action="store_true")
    ap.add_argument("--check", metavar="FILE")
    args = ap.parse_args()
    if args.fixture:
        fixture(os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures",
                             "yardstick.safetensors"))
    elif args.check:
        check(args.check)
    else:
        ap.print_help()
        sys.exit(2)
