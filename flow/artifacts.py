"""Writes a design's files into a build folder: accelerator.json, weights/*.npy,
thresholds/*.npy, output_scale.npy, tail.json, and scoring.npz when the design has a
verification scoring backend (model/scoring.py), and the manifest of their hashes
(hls/design_files.py) (numpy only: the host's tests use it too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from hls.accel import Accelerator
from hls import params_buffer
from hls.design_files import write_manifest
from model.scoring import Wccn


def write_design(acc: Accelerator, params: dict[str, dict[str, np.ndarray]],
                 output_scale: np.ndarray, tail: dict[str, Any], out: Path,
                 scoring: Optional[Wccn] = None) -> Path:
    out = Path(out)
    (out / "weights").mkdir(parents=True, exist_ok=True)
    (out / "thresholds").mkdir(parents=True, exist_ok=True)
    for n in acc.nodes:
        p = params.get(n.name, {})
        if "weights" in p:
            n.weights = f"weights/{n.name}.npy"
            w = p["weights"]
            np.save(out / n.weights, w.astype(np.int8 if np.abs(w).max() < 128 else np.int32))
        if "thresholds" in p:
            n.thresholds = f"thresholds/{n.name}.npy"
            np.save(out / n.thresholds, p["thresholds"].astype(np.int64))
    np.save(out / "output_scale.npy", np.asarray(output_scale, np.float64))
    (out / "tail.json").write_text(json.dumps(tail))
    acc.output["scale"] = "output_scale.npy"
    acc.output["tail"] = "tail.json"
    acc.params_buffer = None
    if params_buffer.size(acc):  # the DDR nodes' weights, as the host allocates them
        data = params_buffer.pack(acc, params)
        (out / params_buffer.FILE).write_bytes(data)
        acc.params_buffer = params_buffer.describe(data)
    acc.output.pop("scoring", None)
    if scoring is not None:  # applied by the host after the tail, before comparing faces
        scoring.save(out / "scoring.npz")
        acc.output["scoring"] = "scoring.npz"
    acc.save(out / "accelerator.json")
    acc.root = out
    write_manifest(out)  # the flow rewrites it when it adds the rest of the build
    return out
