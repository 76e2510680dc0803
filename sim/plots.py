"""PNG plots of a simulation report: cycles per node, FIFO occupancy over time, buffer memory
by layer, resources against the board."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sim.events import SimResult  # noqa: E402


def plot_all(report: dict[str, Any], ev: Optional[SimResult], outdir: Path,
             buffer_bits_by_layer: Optional[dict[str, dict[str, int]]] = None) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    paths = [plot_cycles(report, outdir / "cycles_per_layer.png"),
             plot_resources(report, outdir / "resources.png")]
    if ev is not None:
        paths.append(plot_fifo_occupancy(report, ev, outdir / "fifo_occupancy.png"))
    if buffer_bits_by_layer:
        paths.append(plot_buffers(buffer_bits_by_layer, outdir / "buffers_by_layer.png"))
    return paths


def plot_cycles(report: dict[str, Any], path: Path) -> Path:
    layers = [l for l in report["layers"] if l["kind"] in ("mvau", "swg", "se_scale", "add", "pool")]
    fig, ax = plt.subplots(figsize=(max(8, len(layers) * 0.09), 4.5))
    x = range(len(layers))
    colors = {"mvau": "tab:blue", "swg": "tab:orange", "se_scale": "tab:green", "add": "tab:red",
              "pool": "tab:purple"}
    ax.bar(x, [l["cycles"] for l in layers], color=[colors[l["kind"]] for l in layers], width=0.9)
    ax.axhline(report["cycles_per_frame"] or 0, color="k", ls="--", lw=1,
               label=f"simulated cycles/frame ({report['fps']:.0f} FPS)" if report["fps"] else "")
    ax.set_ylabel("cycles per frame")
    ax.set_xlabel("engine node (dataflow order)")
    ax.set_title(f"{report['design']}: cycles per node at {report['clock_mhz']:g} MHz")
    for k, c in colors.items():
        ax.bar([], [], color=c, label=k)
    ax.legend(fontsize=8, ncol=3)
    ax.set_xticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_fifo_occupancy(report: dict[str, Any], ev: SimResult, path: Path, top: int = 8) -> Path:
    deep = sorted(report["fifos"], key=lambda f: -(f["peak"] or 0))[:top]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for f in deep:
        st = ev.fifos.get(f["name"])
        if st is None or not st.trace_t:
            continue
        ax.step(st.trace_t, st.trace_v, where="post", lw=1, label=f"{f['name']} (depth {f['depth']})")
    ax.set_xlabel("cycle")
    ax.set_ylabel("words in FIFO")
    ax.set_title("FIFO occupancy over time (the deepest FIFOs)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_buffers(by_layer: dict[str, dict[str, int]], path: Path) -> Path:
    names = list(by_layer)
    kinds = sorted({k for d in by_layer.values() for k in d})
    fig, ax = plt.subplots(figsize=(max(8, len(names) * 0.12), 4.5))
    bottom = [0.0] * len(names)
    for k in kinds:
        vals = [by_layer[n].get(k, 0) / 1e3 for n in names]
        ax.bar(range(len(names)), vals, bottom=bottom, label=k, width=0.9)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("kbit")
    ax.set_xlabel("layer (dataflow order)")
    ax.set_title("on-chip buffer memory by layer")
    ax.set_xticks([])
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_resources(report: dict[str, Any], path: Path) -> Path:
    ut = report["resources"]["utilisation"]
    keys = ["LUT", "FF", "DSP", "BRAM36", "URAM"]
    fig, ax = plt.subplots(figsize=(6, 3.8))
    vals = [100 * min(ut[k], 5.0) for k in keys]
    ax.bar(keys, vals, color=["tab:red" if v > 80 else "tab:blue" for v in vals])
    ax.axhline(100, color="k", lw=1)
    ax.axhline(80, color="gray", ls="--", lw=1, label="80%")
    ax.set_ylabel(f"% of {report['board']} (estimate)")
    ax.set_title("estimated resources against the board")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_targets(rows: list[Any], path: Path, fit: float = 0.8) -> Path:
    """sim/targets.py: each target's estimated utilisation per resource (grouped bars, log
    scale: designs run to several times the board) against the fraction every resource must
    stay within, with the simulated FPS and its goal in the labels."""
    import numpy as np

    resources = list(rows[0].utilisation) if rows else []
    fig, ax = plt.subplots(figsize=(max(7, 2.2 * len(rows)), 4.5))
    width = 0.8 / max(1, len(resources))
    for k, res in enumerate(resources):
        ax.bar(np.arange(len(rows)) + (k - (len(resources) - 1) / 2) * width,
               [100 * r.utilisation[res] if r.utilisation[res] > 0 else np.nan for r in rows],
               width, label=res)  # an unused resource draws no bar
    ax.axhline(100 * fit, color="k", ls="--", lw=1, label=f"{fit:.0%} of the board")
    ax.set_yscale("log")
    ax.set_ylim(bottom=1)
    ax.set_ylabel("estimated utilisation (%)")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r.key}\n{r.fps:.0f} FPS (goal {f'{r.target_fps:.0f}' if r.target_fps else 'fit'})"
                        f"\n{'met' if r.met else 'NOT met'}" for r in rows], fontsize=8)
    ax.set_title("issue 27 targets: estimates (hls/resources.py, event simulation), not synthesis")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
