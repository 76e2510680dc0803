"""The golden integer model: executes an accelerator description (the flow's JSON and its
.npy weights and thresholds) layer by layer in numpy, with exactly the integer semantics of
the hls/ engines (hls/intops.py). Its output is the FC's integer accumulators, which the
HLS C-simulation and the board must reproduce bit for bit.

Every stream is held as a tensor N x H x W x C of integer codes (a pooled stream as
N x 1 x 1 x C); duplicates and width converters do not change values, sliding windows are
folded into the convolution that reads them.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from hls.accel import Accelerator, Node
from hls.design_files import check_params, load_params  # noqa: F401 (load_params: re-exported)
from hls.engines import IntType


class GoldenModel:
    def __init__(self, acc: Accelerator, params: Optional[dict[str, dict[str, np.ndarray]]] = None,
                 check: bool = True):
        """params: per node {"weights": ..., "thresholds": ...}; default: the .npy files
        named in the description, relative to its build folder. Either way they are checked
        against the description (hls/design_files.py), as the C-sim checks them; check=False
        only for random_params, which fills them in node by node."""
        self.acc = acc
        self.params = load_params(acc) if params is None else (
            check_params(acc, params) if check else params)

    def run(self, x: np.ndarray) -> np.ndarray:
        """x: uint8 input codes N x H x W x C -> int64 accumulators N x channels."""
        vals = self.trace(x)
        y = vals[self.acc.output["stream"]]
        return y.reshape(y.shape[0], -1)

    def trace(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The values of every stream (N x H x W x C codes) for input x."""
        h, w, c = self.acc.input["shape"]
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1:] != (h, w, c):
            raise ValueError(f"golden model: input must be N x {h} x {w} x {c}, got {x.shape}")
        if not np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"golden model: integer input codes expected, got {x.dtype}")
        t = IntType.parse(self.acc.input["dtype"])
        if x.size and (x.min() < t.min or x.max() > t.max):
            raise ValueError(f"golden model: input codes outside {t}")
        vals: dict[str, np.ndarray] = {self.acc.input["stream"]: x.astype(np.int64)}
        for n in self.acc.nodes:
            outs = self._node(n, [vals[s] for s in n.inputs])
            for s, v in zip(n.outputs, outs):
                vals[s] = v
        return vals

    def _node(self, n: Node, ins: list[np.ndarray]) -> list[np.ndarray]:
        return n.engine().execute(ins, self.params.get(n.name, {}), self.acc.window_engine(n))


def random_params(acc: Accelerator, x: np.ndarray, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Random integer weights and calibrated thresholds for a description: each multi-threshold
    step gets per-channel thresholds at quantiles of the values it sees on the calibration
    input x, so every layer's codes are spread over their range (a network that is alive,
    for bit-exactness tests without a trained model)."""
    rng = np.random.default_rng(seed)
    params: dict[str, dict[str, np.ndarray]] = {}
    model = GoldenModel(acc, params, check=False)
    vals: dict[str, np.ndarray] = {acc.input["stream"]: np.asarray(x, np.int64)}
    for n in acc.nodes:
        e, window = n.engine(), acc.window_engine(n)
        ins = [vals[s] for s in n.inputs]
        specs = e.param_specs(window)
        if "weights" in specs:
            shapes, wt = specs["weights"]
            params[n.name] = {"weights": rng.integers(wt.min + 1, wt.max + 1, shapes[0])}
        if "thresholds" in specs:
            act = e.activation()
            if act.pieces:
                raise ValueError(f"node {n.name}: random_params draws thresholds; the description "
                                 f"gives it an integer requantization (build it with --requant off)")
            raw = e.pre_threshold(ins, params.get(n.name, {}), window)
            nt = act.nt
            flat = raw.reshape(-1, raw.shape[-1]).astype(np.float64)
            q = np.quantile(flat, np.linspace(0.02, 0.98, nt), axis=0).T  # C x NT
            thr = np.ceil(q).astype(np.int64)
            thr = np.maximum.accumulate(thr, axis=1)
            params.setdefault(n.name, {})["thresholds"] = thr
        outs = model._node(n, ins)
        for s, v in zip(n.outputs, outs):
            vals[s] = v
    return params
