"""Memory layouts of the engines' weights and thresholds (numpy; one definition used by the
flow when it writes .npy files and by the C-sim binding when it loads them).

mvau weights: w[pe][(g*NF + nf)*SF + sf][s] = W_g[nf*PE + pe][sf*SIMD + s], where W_g is group
g's MH x MW matrix with inputs in the window order [ky][kx][channel within group].
thresholds (mvau): thr[pe][g*NF + nf][t] for channel g*MH + nf*PE + pe.
thresholds (elementwise engines, N lanes): thr[c % N][c // N][t].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hls.engines import MVAU


def group_matrices(w: np.ndarray, groups: int) -> np.ndarray:
    """PyTorch conv weights Cout x Cin/G x k x k -> G x MH x MW with MW in [ky][kx][c] order.
    FC weights Cout x Cin are taken as 1 x 1 kernels."""
    if w.ndim == 2:
        w = w[:, :, None, None]
    cout, cg, k, _ = w.shape
    return w.reshape(groups, cout // groups, cg, k, k).transpose(0, 1, 3, 4, 2).reshape(
        groups, cout // groups, k * k * cg)


def mvau_weights(w: np.ndarray, e: "MVAU") -> np.ndarray:
    """PyTorch-layout integer weights -> the engine's PE x (G*NF*SF) x SIMD array."""
    m = group_matrices(w, e.groups)
    if m.shape != (e.groups, e.mh, e.mw):
        raise ValueError(f"weights {w.shape} do not fit the engine (G={e.groups}, MH={e.mh}, MW={e.mw})")
    # m[g][nf*PE+pe][sf*SIMD+s] -> [pe][g][nf][sf][s]
    m = m.reshape(e.groups, e.nf, e.pe, e.sf, e.simd).transpose(2, 0, 1, 3, 4)
    return np.ascontiguousarray(m.reshape(e.pe, e.groups * e.nf * e.sf, e.simd))


def mvau_thresholds(thr: np.ndarray, e: "MVAU") -> np.ndarray:
    """C x NT activation table (thresholds, or a requantization's columns) -> PE x (G*NF) x NT
    (channel g*MH + nf*PE + pe)."""
    c, nt = thr.shape
    t = thr.reshape(e.groups, e.nf, e.pe, nt).transpose(2, 0, 1, 3)
    return np.ascontiguousarray(t.reshape(e.pe, e.groups * e.nf, nt))


def lane_thresholds(thr: np.ndarray, n: int) -> np.ndarray:
    """C x NT activation table -> N x (C/N) x NT (channel c in lane c % N, fold c // N)."""
    c, nt = thr.shape
    return np.ascontiguousarray(thr.reshape(c // n, n, nt).transpose(1, 0, 2))
