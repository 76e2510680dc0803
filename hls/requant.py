"""Where a node's thresholds are exactly an integer requantization (issue 27, item 2).

A multi-threshold step out = #{t : v >= thr[c, t]} (NT ascending thresholds per channel) costs
NT comparators per lane and C x NT threshold words. Where the channel's function is affine
(a layer without PReLU: BN, scales and rounding only), the same step is

    out = clip(floor((v * M_c + B_c) / 2^S), 0, NT)

with integers M_c >= 1, B_c and a shift S shared by the node: one multiply-add per lane and
two words per channel. `fit_channel` finds the smallest such S (and an M, B) or proves there
is none for S up to MAX_SHIFT; a fit is exact by construction, over every integer v of the
range the thresholds compare (`value_range`), not sampled: the requantizer's k-th threshold
is ceil((k * 2^S - B) / M), and each must equal thr[c, k-1] (both clamped to the range).

    python -m hls.requant --design build/default [--json PATH]

reports, per thresholded node of a build, how many channels fit (as one requantization, or
as the sum of two split at a PReLU kink: `fit_two_pieces`) and what the thresholds would
shrink to. The engines do not use it yet: this is the measurement that says where the
lever pays (see the issue's note).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

MAX_SHIFT = 48
M_CANDIDATES = 64  # multipliers tried per shift, spread over the bounds the thresholds set


@dataclass(frozen=True)
class ChannelFit:
    m: int
    b: int
    shift: int


def requant_thresholds(m: int, b: int, shift: int, nt: int) -> np.ndarray:
    """The k-th threshold (k = 1..NT) of clip(floor((v*M + B) / 2^S), 0, NT): ceil((k*2^S - B) / M)."""
    k = np.arange(1, nt + 1, dtype=object)
    return np.array([-((-(kk * (1 << shift) - b)) // m) for kk in k], dtype=object)


def requant_apply(v: np.ndarray, m: int, b: int, shift: int, nt: int) -> np.ndarray:
    """clip(floor((v*M + B) / 2^S), 0, NT) in exact integers."""
    v = np.asarray(v, dtype=object)
    return np.clip((v * m + b) // (1 << shift), 0, nt).astype(np.int64)


def _b_interval(t: np.ndarray, lo: int, hi: int, m: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate M: the interval [B_lo, B_hi) of B with every requant threshold equal
    to t (clamped to [lo, hi + 1]). int64 holds every term: k*2^S < 2^57 (NT < 2^9, S <= 48)
    and M*t < 2^61 (fit_channel keeps M below 2^(61 - value bits))."""
    k = (np.arange(1, len(t) + 1, dtype=np.int64) << shift)[:, None]
    mm = m[None, :]
    tt = t[:, None]
    below, above = tt <= lo, tt > hi
    # t_k <= lo: ceil((k2^S - B)/M) <= lo  <=>  B >= k2^S - M lo
    # t_k > hi:  ceil(...) >= hi + 1       <=>  B <  k2^S - M hi
    # else:      ceil(...) == t_k          <=>  k2^S - M t_k <= B < k2^S - M (t_k - 1)
    big = np.int64(1) << 62
    lower = np.where(below, k - mm * lo, np.where(above, -big, k - mm * tt))
    upper = np.where(below, big, np.where(above, k - mm * hi, k - mm * (tt - 1)))
    return lower.max(axis=0), upper.min(axis=0)


def fit_channel(t: np.ndarray, lo: int, hi: int, max_shift: int = MAX_SHIFT) -> Optional[ChannelFit]:
    """The smallest-shift integer requantization whose step equals thresholds t on [lo, hi]
    (t ascending), or None."""
    t = np.asarray(t, dtype=np.int64)
    vbits = max(abs(lo), abs(hi) + 1).bit_length()
    if vbits > 40 or max_shift > 48 or len(t) >= 1 << 9:
        raise ValueError("fit_channel: values of at most 40 bits, NT below 512, shifts of at most 48")
    m_cap = (1 << (61 - vbits)) - 1
    inner = (t > lo) & (t <= hi)
    ks, ts = np.nonzero(inner)[0].astype(np.float64) + 1, t[inner].astype(np.float64)
    # Two inner thresholds k < k' bound the slope: (k'-k) 2^S / (T'-T+1) < M < (k'-k) 2^S / (T'-T-1)
    # (a necessary condition; the B interval below decides exactly)
    dk, dt = ks[None, :] - ks[:, None], ts[None, :] - ts[:, None]
    pair = dk > 0
    r_lo = float((dk[pair] / (dt[pair] + 1)).max()) if pair.any() else 0.0
    with np.errstate(divide="ignore"):
        r_hi = float(np.where(dt[pair] > 1, dk[pair] / np.maximum(dt[pair] - 1, 1e-300), np.inf).min()) \
            if pair.any() else np.inf
    for shift in range(0, max_shift + 1):
        m_lo = max(1, int(np.floor(r_lo * (1 << shift))) - 1)
        m_hi = int(np.ceil(r_hi * (1 << shift))) + 1 if np.isfinite(r_hi) else m_lo + M_CANDIDATES
        if m_hi < m_lo:
            continue
        if m_hi > m_cap:
            m_hi = m_cap
            if m_lo > m_hi:
                break
        m = np.unique(np.linspace(m_lo, m_hi, min(M_CANDIDATES, m_hi - m_lo + 1)).round().astype(np.int64))
        b_lo, b_hi = _b_interval(t, lo, hi, m, shift)
        ok = np.nonzero(b_lo < b_hi)[0]
        if len(ok):
            i = int(ok[0])
            return ChannelFit(int(m[i]), int(b_lo[i]), shift)
    return None


def fit_two_pieces(t: np.ndarray, lo: int, hi: int) -> Optional[tuple[ChannelFit, ChannelFit]]:
    """A PReLU channel: its thresholds split at the output code 0 (the kink, (NT+1)/2 levels
    below it for a signed output), each side an affine step of its own. The step is then the
    sum of two requantizations, each counting its side's thresholds (sorted thresholds make
    the counts add): two multiply-adds per lane instead of NT compares."""
    mid = (len(t) + 1) // 2
    for j in (mid, mid - 1, mid + 1):  # rounding can put the code-0 threshold on either side
        if 1 <= j < len(t):
            a, b = fit_channel(t[:j], lo, hi), fit_channel(t[j:], lo, hi)
            if a is not None and b is not None:
                return a, b
    return None


@dataclass
class NodeReport:
    node: str
    kind: str
    channels: int
    nt: int
    fitted: int  # channels that are one exact requantization
    fitted_two: int  # channels that are one, or the sum of two (split at the kink)
    shift: Optional[int]  # the node's shift (the largest its pieces need), when all fit in <= 2
    m_bits: Optional[int]  # unsigned bits of the largest M then
    threshold_bits: int  # what the node's thresholds hold now
    requant_bits: Optional[int]  # one (M, B) per channel, when every channel is one piece
    two_piece_bits: Optional[int]  # two (M, B) per channel, when every channel fits in two


def value_range(threshold_bits: int) -> tuple[int, int]:
    """The values a node's thresholds compare: the signed range one bit narrower than the
    thresholds' own datatype (hls/engines: thresholds are acc + 1 bits)."""
    return -(1 << (threshold_bits - 2)), (1 << (threshold_bits - 2)) - 1


def fit_node(name: str, kind: str, thr: np.ndarray, threshold_bits: int) -> NodeReport:
    lo, hi = value_range(threshold_bits)
    c, nt = thr.shape
    pieces: list[Optional[list[ChannelFit]]] = []
    for row in thr:
        one = fit_channel(row, lo, hi)
        two = None if one is not None else fit_two_pieces(row, lo, hi)
        pieces.append([one] if one is not None else (list(two) if two is not None else None))
    one_fit = sum(1 for p in pieces if p is not None and len(p) == 1)
    fits = [p for p in pieces if p is not None]
    if len(fits) < c:
        return NodeReport(name, kind, c, nt, one_fit, len(fits), None, None, c * nt * threshold_bits, None, None)
    flat = [f for p in fits for f in p]
    shift = max(f.shift for f in flat)
    # with the node's common shift S, a piece fitted at s scales M and B by 2^(S - s)
    m_bits = max(int(f.m << (shift - f.shift)).bit_length() for f in flat)
    b_bits = max(int(abs(f.b << (shift - f.shift))).bit_length() + 1 for f in flat)
    per_pair = m_bits + b_bits
    return NodeReport(name, kind, c, nt, one_fit, c, shift, m_bits, c * nt * threshold_bits,
                      c * per_pair if one_fit == c else None, c * 2 * per_pair)


def report(design: Path) -> list[NodeReport]:
    from hls.accel import Accelerator
    from hls.design_files import load_params

    acc = Accelerator.load(design)
    params = load_params(acc)
    out = []
    for n in acc.nodes:
        specs = n.engine().param_specs()
        if "thresholds" not in specs or n.name not in params:
            continue
        _, t = specs["thresholds"]
        out.append(fit_node(n.name, n.kind, params[n.name]["thresholds"], t.bits))
    return out


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hls.requant", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--design", type=Path, default=Path("build/default"),
                    help="build folder written by the flow (default build/default)")
    ap.add_argument("--json", type=Path, help="write the per-node rows as JSON here")
    a = ap.parse_args(argv)
    if not (a.design / "accelerator.json").is_file():
        print(f"error: {a.design}: not a build folder (no accelerator.json)", file=sys.stderr)
        return 2
    rows = report(a.design)
    print(f"{'node':<36}{'kind':<10}{'channels':>9}{'1 piece':>8}{'<=2':>6}{'S':>4}{'M bits':>7}"
          f"{'thr Kbit':>10}{'as M,B Kbit':>12}")
    for r in rows:
        as_mb = r.requant_bits if r.requant_bits is not None else r.two_piece_bits
        print(f"{r.node[:35]:<36}{r.kind:<10}{r.channels:>9}{r.fitted:>8}{r.fitted_two:>6}"
              f"{'' if r.shift is None else r.shift:>4}{'' if r.m_bits is None else r.m_bits:>7}"
              f"{r.threshold_bits / 1e3:>10.1f}{'' if as_mb is None else f'{as_mb / 1e3:.1f}':>12}")
    one = [r for r in rows if r.requant_bits is not None]
    two = [r for r in rows if r.requant_bits is None and r.two_piece_bits is not None]
    mbit = lambda rs, k: sum(getattr(r, k) for r in rs) / 1e6  # noqa: E731
    print(f"{len(rows)} thresholded nodes, thresholds {mbit(rows, 'threshold_bits'):.2f} Mbit. "
          f"{len(one)} are one integer requantization in every channel ({mbit(one, 'threshold_bits'):.2f} "
          f"Mbit of thresholds -> {mbit(one, 'requant_bits'):.3f} Mbit of M, B); {len(two)} more are "
          f"the sum of two, split at the PReLU kink ({mbit(two, 'threshold_bits'):.2f} Mbit -> "
          f"{mbit(two, 'two_piece_bits'):.3f} Mbit); {len(rows) - len(one) - len(two)} are neither")
    if a.json:
        a.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
