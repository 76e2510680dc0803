"""Integer semantics of the accelerator's engines, in numpy: the one definition that the golden
model executes and that the HLS C-simulation is tested against.

Tensors are int64 arrays in N x H x W x C layout (the stream order: pixels row-major, channels
in order). Matrix products run as float64 BLAS calls, which are exact here: every product and
partial sum stays far below 2**53 (checked by `_exact_bound`).
"""

from __future__ import annotations

import numpy as np

_FLOAT_EXACT = 2 ** 53


def _exact_bound(x: np.ndarray, w: np.ndarray, terms: int) -> None:
    bound = float(np.abs(x).max(initial=0)) * float(np.abs(w).max(initial=0)) * terms
    if bound >= _FLOAT_EXACT:
        raise OverflowError(f"integer dot products up to {bound:.3g} exceed exact float64 range")


def pad_nhwc(x: np.ndarray, pad: int) -> np.ndarray:
    if pad == 0:
        return x
    return np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def windows(x: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    """N x OH x OW x k x k x C view of the zero-padded input (the sliding window)."""
    xp = pad_nhwc(x, pad)
    v = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))  # N,OH',OW',C,k,k
    v = v[:, ::stride, ::stride]
    return v.transpose(0, 1, 2, 4, 5, 3)


def conv_int(x: np.ndarray, w: np.ndarray, stride: int = 1, pad: int = 0,
             groups: int = 1) -> np.ndarray:
    """Grouped 2D convolution of integer codes. x: N x H x W x Cin; w: Cout x Cin/G x k x k
    (PyTorch layout). Returns int64 accumulators N x OH x OW x Cout."""
    n, h, wd, cin = x.shape
    cout, cg, k, k2 = w.shape
    if k != k2 or cin != cg * groups or cout % groups:
        raise ValueError(f"conv_int: weights {w.shape} do not fit input {x.shape} with {groups} groups")
    win = windows(x, k, stride, pad)  # N,OH,OW,k,k,Cin
    oh, ow = win.shape[1:3]
    og = cout // groups
    # group-major input vector [g][ky][kx][c]: the S=8 engine's order
    cols = win.reshape(n * oh * ow, k, k, groups, cg).transpose(0, 3, 1, 2, 4)
    cols = cols.reshape(n * oh * ow, groups, k * k * cg).astype(np.float64)
    wm = w.reshape(groups, og, cg, k, k).transpose(0, 1, 3, 4, 2).reshape(groups, og, k * k * cg)
    _exact_bound(cols, wm, k * k * cg)
    acc = np.einsum("pgi,goi->pgo", cols, wm.astype(np.float64), optimize=True)
    return np.rint(acc).astype(np.int64).reshape(n, oh, ow, cout)


def fc_int(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x: N x Cin codes, w: Cout x Cin -> N x Cout accumulators."""
    _exact_bound(x, w, x.shape[-1])
    return np.rint(x.astype(np.float64) @ w.astype(np.float64).T).astype(np.int64)


def multithreshold(acc: np.ndarray, thr: np.ndarray, out_bias: int) -> np.ndarray:
    """out = out_bias + #{t : acc >= thr[c, t]} per channel c (last axis).

    thr: C x NT, each row sorted ascending (checked)."""
    c = acc.shape[-1]
    if thr.ndim != 2 or thr.shape[0] != c:
        raise ValueError(f"multithreshold: thresholds {thr.shape} for {c} channels")
    if np.any(np.diff(thr, axis=1) < 0):
        raise ValueError("multithreshold: thresholds must be sorted ascending per channel")
    out = np.empty(acc.shape, np.int64)
    flat = acc.reshape(-1, c)
    o = out.reshape(-1, c)
    for ch in range(c):
        o[:, ch] = np.searchsorted(thr[ch], flat[:, ch], side="right")
    return out + out_bias


def global_sum(x: np.ndarray) -> np.ndarray:
    """Per-channel sum over H and W: N x H x W x C -> N x C."""
    return x.sum(axis=(1, 2), dtype=np.int64)


def se_product(x: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """x: N x H x W x C codes, gate: N x C codes -> per-channel products."""
    return x.astype(np.int64) * gate.astype(np.int64)[:, None, None, :]
