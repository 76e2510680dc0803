"""The golden integer model: executes an accelerator description (the flow's JSON and its
.npy weights and thresholds) layer by layer in numpy, with exactly the integer semantics of
the hls/ engines (sim/intops.py). Its output is the FC's integer accumulators, which the
HLS C-simulation and the board must reproduce bit for bit.

Every stream is held as a tensor N x H x W x C of integer codes (a pooled stream as
N x 1 x 1 x C); duplicates and width converters do not change values, sliding windows are
folded into the convolution that reads them.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from flow.accel import Accelerator, DescriptionError, Node
from flow.design_files import check_params, load_params  # noqa: F401 (load_params: re-exported)
from hls.engines import MVAU, SWG, Eltwise, IntType
from sim import intops


class GoldenModel:
    def __init__(self, acc: Accelerator, params: Optional[dict[str, dict[str, np.ndarray]]] = None,
                 check: bool = True):
        """params: per node {"weights": ..., "thresholds": ...}; default: the .npy files
        named in the description, relative to its build folder. Either way they are checked
        against the description (flow/design_files.py), as the C-sim checks them; check=False
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
        e = n.engine()
        if n.kind in ("duplicate",):
            return [ins[0], ins[0]]
        if n.kind in ("width_convert", "swg"):
            return [ins[0]]  # values unchanged; a window is folded into its engine
        p = self.params.get(n.name, {})
        if isinstance(e, MVAU):
            w = p["weights"]
            src = self.acc.window_of(n)
            x = ins[0]
            if src is not None:
                s: SWG = src.engine()  # type: ignore[assignment]
                acc = intops.conv_int(x, w, s.stride, s.pad, e.groups)
            else:
                nn = x.shape[0]
                acc = intops.fc_int(x.reshape(nn * e.pixels, -1), w.reshape(w.shape[0], -1))
                acc = acc.reshape(nn, *x.shape[1:3], -1) if x.ndim == 4 else acc
            if e.out_type is None:
                return [acc]
            return [intops.multithreshold(acc, p["thresholds"], e.out_bias)]
        assert isinstance(e, Eltwise)
        if e.kind == "pool":
            sums = intops.global_sum(ins[0])
            return [sums[:, None, None, :]]
        assert e.out_type is not None
        bias = e.out_type.min
        if e.kind == "threshold":
            return [intops.multithreshold(ins[0], p["thresholds"], bias)]
        if e.kind == "add":
            return [intops.multithreshold(ins[0] + ins[1], p["thresholds"], bias)]
        if e.kind == "se_scale":
            gate = ins[1].reshape(ins[1].shape[0], -1)
            return [intops.multithreshold(intops.se_product(ins[0], gate), p["thresholds"], bias)]
        raise DescriptionError(f"golden model: node {n.name} of kind {n.kind} cannot be executed")


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
        e = n.engine()
        ins = [vals[s] for s in n.inputs]
        if isinstance(e, MVAU):
            src = acc.window_of(n)
            wt = IntType(e.w_bits, True)
            if src is not None:
                s: SWG = src.engine()  # type: ignore[assignment]
                shape = (e.groups * e.mh, s.ch // e.groups, s.k, s.k)
            else:
                shape = (e.mh, e.mw)
            params[n.name] = {"weights": rng.integers(wt.min + 1, wt.max + 1, shape)}
        needs_thr = (isinstance(e, MVAU) and e.out_type is not None) or \
            (isinstance(e, Eltwise) and e.kind in ("threshold", "add", "se_scale"))
        if needs_thr:
            params.setdefault(n.name, {})["thresholds"] = np.zeros((1, 1), np.int64)  # placeholder
            raw = _pre_threshold(model, n, e, ins, params)
            out_t = e.out_type
            nt = (1 << out_t.bits) - 1
            flat = raw.reshape(-1, raw.shape[-1]).astype(np.float64)
            q = np.quantile(flat, np.linspace(0.02, 0.98, nt), axis=0).T  # C x NT
            thr = np.ceil(q).astype(np.int64)
            thr = np.maximum.accumulate(thr, axis=1)
            params[n.name]["thresholds"] = thr
        outs = model._node(n, ins)
        for s, v in zip(n.outputs, outs):
            vals[s] = v
    return params


def _pre_threshold(model: GoldenModel, n: Node, e, ins, params) -> np.ndarray:
    """The values a node's thresholds compare (accumulators, sums or products)."""
    if isinstance(e, MVAU):
        w = params[n.name]["weights"]
        src = model.acc.window_of(n)
        if src is not None:
            s = src.engine()
            return intops.conv_int(ins[0], w, s.stride, s.pad, e.groups)
        nn = ins[0].shape[0]
        acc = intops.fc_int(ins[0].reshape(nn * e.pixels, -1), w.reshape(w.shape[0], -1))
        return acc
    if e.kind == "threshold":
        return ins[0]
    if e.kind == "add":
        return ins[0] + ins[1]
    gate = ins[1].reshape(ins[1].shape[0], -1)
    return intops.se_product(ins[0], gate)
