#!/usr/bin/env python3
"""FD of the yardstick against training time for several runs, one PNG.

Each RUN argument is LABEL=FILE, FILE a metrics.jsonl of `cdrl train --eval-every` (or any
JSON-lines file of the same records): the lines with an "eval" object give time_s, eval.fd
(refined samples) and, when present, eval.fd_init (the initializer's proposals alone).
Usage: plot_fd.py OUT.png LABEL=FILE [LABEL=FILE ...] [--ref NAME=FD ...] [--xlabel TEXT]
--ref draws a horizontal line (a calibration figure, e.g. "noise 0.2=12.3"); --xlabel says
how the time was measured."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    out, runs, refs, xlabel = argv[1], [], [], "training time (minutes)"
    args = iter(argv[2:])
    for a in args:
        if a == "--ref":
            name, fd = next(args).rsplit("=", 1)
            refs.append((name, float(fd)))
            continue
        if a == "--xlabel":
            xlabel = next(args)
            continue
        label, path = a.split("=", 1)
        pts = []
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                e = r.get("eval")
                if e and e.get("fd") is not None:
                    pts.append((r["time_s"] / 60, e["fd"], e.get("fd_init")))
        runs.append((label, sorted(pts)))
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for i, (label, pts) in enumerate(runs):
        c = f"C{i}"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "-o", color=c, ms=3, label=label)
        init = [(p[0], p[2]) for p in pts if p[2] is not None]
        if init:
            ax.plot([p[0] for p in init], [p[1] for p in init], "--", color=c, lw=1,
                    label=f"{label}: proposals alone")
    for i, (name, fd) in enumerate(refs):
        ax.axhline(fd, color="grey", lw=0.8, ls=":")
        ax.text(0, fd, " " + name, va="bottom", fontsize=7, color="grey")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("FD in the classifier's features (log scale)")
    ax.set_title("Fashion-MNIST: yardstick FD against training time")
    ax.legend(fontsize=7, loc="center right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main(sys.argv)
