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
shrink to. `node_requant` turns a node's fits into the table the engines read
(hls/engines/activation.py); the flow takes it where it pays (flow/requantize.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional

import numpy as np

MAX_SHIFT = 48


@dataclass(frozen=True)
class ChannelFit:
    m: int
    b: int
    shift: int


def _ratio_bounds(t: np.ndarray, lo: int, hi: int) -> Optional[tuple[Fraction, Optional[Fraction]]]:
    """(R_lo, R_hi): the integers M that admit a B at shift S are exactly those with
    R_lo 2^S < M < R_hi 2^S (R_hi None: unbounded), or None when no M does at any shift.

    Every threshold k sets B >= k 2^S - M a_k and B < k 2^S - M b_k, with (a_k, b_k) =
    (t_k, t_k - 1) for a threshold inside (lo, hi], (lo, +inf) for one at or below lo (reached
    by every value), (-inf, hi) for one above hi (reached by none). A B exists iff each lower
    bound is below each upper one: for every k, k' with both finite, M (b_k' - a_k) <
    (k' - k) 2^S. With d = b_k' - a_k that is M < (k' - k) 2^S / d for d > 0,
    M > (k - k') 2^S / (-d) for d < 0, and k' > k for d = 0. Both bounds are integers, so the
    B interval then holds an integer too. Exact, with no sampling of M."""
    k = np.arange(1, len(t) + 1, dtype=np.int64)
    inner, below = (t > lo) & (t <= hi), t <= lo
    has_a, has_b = inner | below, inner | (t > hi)
    a = np.where(inner, t, lo)[has_a]
    b = np.where(inner, t - 1, hi)[has_b]
    ka, kb = k[has_a], k[has_b]
    if not len(a) or not len(b):
        return Fraction(0), None
    d = b[None, :] - a[:, None]  # rows: the lower bound's k, columns: the upper bound's k'
    num = kb[None, :] - ka[:, None]
    if np.any((d == 0) & (num <= 0)):
        return None
    r_lo, r_hi = Fraction(0), None
    neg, pos = d < 0, d > 0
    if neg.any():  # M > num / d (both negative: (-num) / (-d))
        q = num[neg] / d[neg]
        i = int(np.argmax(q))
        r_lo = max(r_lo, Fraction(int(num[neg][i]), int(d[neg][i])))
    if pos.any():  # M < num / d
        q = num[pos] / d[pos]
        i = int(np.argmin(q))
        r_hi = Fraction(int(num[pos][i]), int(d[pos][i]))
        if r_hi <= 0:
            return None
    return r_lo, r_hi


def fit_channel(t: np.ndarray, lo: int, hi: int, max_shift: int = MAX_SHIFT) -> Optional[ChannelFit]:
    """The smallest-shift integer requantization whose step equals thresholds t on [lo, hi]
    (t ascending), or None: for each shift S the smallest M inside the exact bounds
    (_ratio_bounds), B the least its thresholds allow."""
    t = np.asarray(t, dtype=np.int64)
    vbits = max(abs(lo), abs(hi) + 1).bit_length()
    if vbits > 40 or max_shift > 48 or len(t) >= 1 << 9:
        raise ValueError("fit_channel: values of at most 40 bits, NT below 512, shifts of at most 48")
    m_cap = (1 << (61 - vbits)) - 1  # M * v stays inside int64
    bounds = _ratio_bounds(t, lo, hi)
    if bounds is None:
        return None
    r_lo, r_hi = bounds
    for shift in range(max_shift + 1):
        scaled = r_lo * (1 << shift)
        m = max(1, scaled.numerator // scaled.denominator + 1)  # the least integer above R_lo 2^S
        if m > m_cap:
            return None
        if r_hi is None or m < r_hi * (1 << shift):
            k = np.arange(1, len(t) + 1, dtype=object)
            lower = [kk * (1 << shift) - m * (lo if tt <= lo else tt) for kk, tt in zip(k, t) if tt <= hi]
            return ChannelFit(m, int(max(lower)) if lower else -(m * hi), shift)
    return None


def fit_two_pieces(t: np.ndarray, lo: int, hi: int) -> Optional[tuple[ChannelFit, ChannelFit, int]]:
    """A PReLU channel: its thresholds split at the output code 0 (the kink, (NT+1)/2 levels
    below it for a signed output), each side an affine step of its own. The step is then the
    sum of two requantizations, each counting its side's thresholds (sorted thresholds make
    the counts add): two multiply-adds per lane instead of NT compares. Returns the pieces and
    the split J (the first piece counts thresholds 1..J)."""
    mid = (len(t) + 1) // 2
    for j in (mid, mid - 1, mid + 1):  # rounding can put the code-0 threshold on either side
        if 1 <= j < len(t):
            a, b = fit_channel(t[:j], lo, hi), fit_channel(t[j:], lo, hi)
            if a is not None and b is not None:
                return a, b, j
    return None


@dataclass(frozen=True)
class NodeRequant:
    """A node's exact requantization: the parameters of hls/engines/activation.py and its
    C x 2 (M, B) or C x 6 (M1, B1, M2, B2, J, K) table."""

    pieces: int
    shift: int
    table_bits: int
    table: np.ndarray


def value_range(threshold_bits: int) -> tuple[int, int]:
    """The values a node's thresholds compare: the signed range one bit narrower than the
    thresholds' own datatype (hls/engines: thresholds are value bits + 1 wide)."""
    return -(1 << (threshold_bits - 2)), (1 << (threshold_bits - 2)) - 1


Fits = list[Optional[tuple[list[ChannelFit], int]]]


def channel_fits(thr: np.ndarray, lo, hi) -> Fits:
    """Per channel: ([one fit], NT) or ([two fits], J), or None when neither exists. lo, hi:
    the values the channel can take (one range for all, or one per channel: a fit need only
    be exact where values occur)."""
    out: Fits = []
    los, his = np.broadcast_to(lo, len(thr)), np.broadcast_to(hi, len(thr))
    for row, l, h in zip(thr, los, his):
        one = fit_channel(row, int(l), int(h))
        if one is not None:
            out.append(([one], len(row)))
            continue
        two = fit_two_pieces(row, int(l), int(h))
        out.append(None if two is None else ([two[0], two[1]], two[2]))
    return out


def node_requant(fits: Fits, thr: np.ndarray, lo, hi) -> Optional[NodeRequant]:
    """The node's table from its channels' fits (None if a channel has none): one piece if
    every channel is one, else two. A two-piece row is (M1, B1, M2, B2, J, K): values below
    K = thr[J] (the first threshold of the upper piece) take the lower piece, clipped to
    0..J; the others J plus the upper piece, clipped to 0..NT - J. That equals the sum of the
    two pieces (below K the upper one counts nothing, from K on the lower one counts all J),
    with one multiply per value. A one-piece channel in a two-piece node gets J = NT and
    K = hi + 1. Every piece is rescaled to the node's shift S (the largest any needs): M, B
    times 2^(S - s) leave floor((v M + B) / 2^S) unchanged."""
    if not fits or any(f is None for f in fits):
        return None
    done = [f for f in fits if f is not None]
    pieces = 1 if all(len(ps) == 1 for ps, _ in done) else 2
    shift = max(p.shift for ps, _ in done for p in ps)
    rows = []
    los, his = np.broadcast_to(lo, len(thr)), np.broadcast_to(hi, len(thr))
    for (ps, j), t, l, h in zip(done, thr, los, his):
        scaled = [(p.m << (shift - p.shift), p.b << (shift - p.shift)) for p in ps]
        if pieces == 1:
            rows.append(list(scaled[0]))
        else:
            second = scaled[1] if len(scaled) == 2 else (1, 0)  # clipped to 0..0: counts nothing
            k = int(np.clip(t[j], l, h + 1)) if j < len(t) else int(h) + 1
            rows.append([*scaled[0], *second, j, k])
    bits = max(int(abs(x)).bit_length() + 1 for r in rows for x in r)
    if bits > 63:
        return None
    return NodeRequant(pieces, shift, bits, np.array(rows, dtype=np.int64))


@dataclass
class NodeReport:
    node: str
    kind: str
    channels: int
    nt: int
    fitted: int  # channels that are one exact requantization
    fitted_two: int  # channels that are one, or the sum of two (split at the kink)
    shift: Optional[int]  # the node's shift, when every channel fits in one or two pieces
    table_bits: Optional[int]  # signed bits of its table's entries then
    threshold_bits: int  # what the node's thresholds hold now
    requant_bits: Optional[int]  # the (M, B) table, when every channel is one piece
    two_piece_bits: Optional[int]  # the (M1, B1, M2, B2, J, K) table, when some channel needs two


def fit_node(name: str, kind: str, thr: np.ndarray, threshold_bits: int, bounds=None) -> NodeReport:
    """The fits of a node's channels over `bounds` (each channel's least and greatest value,
    Engine.value_bounds), else over the whole range the thresholds' type compares."""
    lo, hi = bounds if bounds is not None else value_range(threshold_bits)
    c, nt = thr.shape
    fits = channel_fits(thr, lo, hi)
    one_fit = sum(1 for f in fits if f is not None and len(f[0]) == 1)
    rq = node_requant(fits, thr, lo, hi)
    size = None if rq is None else c * (2 if rq.pieces == 1 else 6) * rq.table_bits
    return NodeReport(name, kind, c, nt, one_fit, sum(1 for f in fits if f is not None),
                      None if rq is None else rq.shift, None if rq is None else rq.table_bits,
                      c * nt * threshold_bits, size if rq is not None and rq.pieces == 1 else None,
                      size if rq is not None and rq.pieces == 2 else None)


def report(design: Path) -> list[NodeReport]:
    """fit_node for every node of a build with an activation table (a node the flow already
    requantizes is fitted again from the thresholds its table equals)."""
    from hls.accel import Accelerator
    from hls.design_files import load_params

    acc = Accelerator.load(design)
    params = load_params(acc)
    out = []
    for n in acc.nodes:
        e = n.engine()
        a = e.activation()
        if a is None:
            continue
        thr = a.thresholds_of(params[n.name]["thresholds"])
        out.append(fit_node(n.name, n.kind, thr, a.value_bits + 1, e.value_bounds(params[n.name])))
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
    print(f"{'node':<36}{'kind':<10}{'channels':>9}{'1 piece':>8}{'<=2':>6}{'S':>4}{'bits':>7}"
          f"{'thr Kbit':>10}{'as M,B Kbit':>12}")
    for r in rows:
        as_mb = r.requant_bits if r.requant_bits is not None else r.two_piece_bits
        print(f"{r.node[:35]:<36}{r.kind:<10}{r.channels:>9}{r.fitted:>8}{r.fitted_two:>6}"
              f"{'' if r.shift is None else r.shift:>4}{'' if r.table_bits is None else r.table_bits:>7}"
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
