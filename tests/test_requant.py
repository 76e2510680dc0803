"""hls/requant.py: an integer requantization found for a threshold step is exact over the
whole value range, and none is claimed where the step is not affine."""

from __future__ import annotations

import numpy as np
import pytest

from hls import intops
from hls.requant import fit_channel, fit_node, fit_two_pieces, value_range


# plain references in exact Python integers (the product's semantics: hls/engines/activation.py)
def requant_thresholds(m: int, b: int, shift: int, nt: int) -> np.ndarray:
    """The k-th threshold (k = 1..NT) of clip(floor((v*M + B) / 2^S), 0, NT): ceil((k*2^S - B) / M)."""
    return np.array([-((b - k * (1 << shift)) // m) for k in range(1, nt + 1)], dtype=object)


def requant_apply(v: np.ndarray, m: int, b: int, shift: int, nt: int) -> np.ndarray:
    """clip(floor((v*M + B) / 2^S), 0, NT) in exact integers."""
    v = np.asarray(v, dtype=object)
    return np.clip((v * m + b) // (1 << shift), 0, nt).astype(np.int64)


def _thresholds(f, lo: int, hi: int, nt: int) -> np.ndarray:
    """thr[k-1] = the smallest v in [lo, hi] with round(f(v)) >= k (hi + 1 when none)."""
    v = np.arange(lo, hi + 1)
    q = np.clip(np.floor(f(v) + 0.5), 0, nt).astype(np.int64)
    return np.array([v[np.argmax(q >= k)] if (q >= k).any() else hi + 1 for k in range(1, nt + 1)])


def _same_step(t: np.ndarray, fit, lo: int, hi: int) -> bool:
    v = np.arange(lo, hi + 1)
    want = intops.multithreshold(v[:, None], t[None, :], 0)[:, 0]
    return np.array_equal(requant_apply(v, fit.m, fit.b, fit.shift, len(t)), want)


@pytest.mark.parametrize("nt", [1, 15, 255])
def test_affine_steps_get_an_exact_requantization(nt):
    rng = np.random.default_rng(nt)
    lo, hi = -(1 << 12), (1 << 12) - 1
    for _ in range(40):
        slope = rng.uniform(nt / 8000, nt / 20)  # from a few levels over the range to 1/20 per unit
        t = _thresholds(lambda v: slope * v + rng.uniform(-nt, 2 * nt), lo, hi, nt)
        fit = fit_channel(t, lo, hi)
        assert fit is not None and _same_step(t, fit, lo, hi)
        inner = (t > lo) & (t <= hi)
        assert np.array_equal(requant_thresholds(fit.m, fit.b, fit.shift, nt)[inner].astype(np.int64), t[inner])


def test_steep_steps_skipping_levels_and_steps_clamped_at_the_range_ends_fit():
    lo, hi = -100, 100
    for f in (lambda v: 3.3 * v + 7.5,  # several levels per unit: repeated thresholds
              lambda v: 0.05 * v + 14.0,  # most thresholds above the range
              lambda v: 0.05 * v - 2.0):  # most below
        t = _thresholds(f, lo, hi, 15)
        fit = fit_channel(t, lo, hi)
        assert fit is not None and _same_step(t, fit, lo, hi)


def test_a_prelu_kink_has_no_single_requantization():
    lo, hi = -2048, 2047
    assert fit_channel(_kinked(lo, hi, 7.5), lo, hi) is None


def _kinked(lo, hi, level_at_kink):
    """A PReLU channel: slopes 0.004 above the kink, 0.001 below, the kink at the given level."""
    return _thresholds(lambda v: np.where(v > 0, 0.004 * v, 0.001 * v) + level_at_kink, lo, hi, 15)


def test_a_prelu_channel_is_exactly_the_sum_of_two_requantizations_split_at_its_kink():
    lo, hi = -4096, 4095
    t = _kinked(lo, hi, 7.5)  # the kink at output code 0 of a signed 4-bit output
    a, b, j = fit_two_pieces(t, lo, hi)
    v = np.arange(lo, hi + 1)
    got = requant_apply(v, a.m, a.b, a.shift, j) + requant_apply(v, b.m, b.b, b.shift, len(t) - j)
    want = intops.multithreshold(v[:, None], t[None, :], 0)[:, 0]
    assert np.array_equal(got, want)
    assert fit_two_pieces(_kinked(lo, hi, 2.5), lo, hi) is None  # a kink far from code 0


def test_a_node_fits_only_when_every_channel_does():
    lo, hi = value_range(14)
    affine = [_thresholds(lambda v, s=s: s * v + 7.5, lo, hi, 15) for s in (0.003, 0.002)]
    r = fit_node("n", "threshold", np.array(affine), 14)
    assert r.fitted == 2 and r.shift is not None and r.requant_bits < r.threshold_bits
    r = fit_node("n", "threshold", np.array(affine + [_kinked(lo, hi, 7.5)]), 14)
    assert (r.fitted, r.fitted_two) == (2, 3) and r.requant_bits is None
    assert r.two_piece_bits is not None and r.two_piece_bits < r.threshold_bits
    r = fit_node("n", "threshold", np.array(affine + [_kinked(lo, hi, 2.5)]), 14)
    assert (r.fitted, r.fitted_two) == (2, 2) and r.shift is None and r.two_piece_bits is None


def _node_thresholds(rng, value_bits: int, nt: int, channels: int, kinked: bool) -> np.ndarray:
    lo, hi = -(1 << (value_bits - 1)), (1 << (value_bits - 1)) - 1
    rows = []
    for _ in range(channels):
        s = rng.uniform(2.0, 12.0) * nt / (hi - lo)
        c = nt / 2 if kinked else rng.uniform(0.3, 0.7) * nt  # a PReLU kink sits at output code 0
        f = (lambda v, s=s, c=c: np.where(v > 0, s * v, 0.25 * s * v) + c) if kinked else \
            (lambda v, s=s, c=c: s * v + c)
        rows.append(_thresholds(f, lo, hi, nt))
    return np.array(rows)


@pytest.mark.parametrize("kinked", [False, True])
def test_a_nodes_requant_table_gives_the_codes_of_its_thresholds_for_every_value(kinked):
    from hls.engines import Activation
    from hls.requant import channel_fits, node_requant

    rng = np.random.default_rng(3)
    vb, nt = 12, 15
    thr = _node_thresholds(rng, vb, nt, 6, kinked)
    lo, hi = value_range(vb + 1)
    rq = node_requant(channel_fits(thr, lo, hi), thr, lo, hi)
    assert rq is not None and rq.pieces == (2 if kinked else 1)
    a = Activation(nt, -8, vb, rq.pieces, rq.shift, rq.table_bits)
    v = np.arange(-(1 << (vb - 1)), 1 << (vb - 1))
    vv = np.repeat(v[:, None], len(thr), axis=1)
    assert np.array_equal(a.apply(vv, rq.table), Activation(nt, -8, vb).apply(vv, thr))
    assert np.array_equal(a.thresholds_of(rq.table), thr)
    assert a.problem(rq.table) is None
    bad = rq.table.copy()
    bad[2, 0] = 0
    assert a.problem(bad) == "multiplier M of channel 2 is below 1"


def test_requant_parameters_a_node_cannot_hold_are_refused_by_name():
    from hls.engines import MVAU, EngineError, IntType

    base = dict(groups=1, mw=8, mh=8, pe=1, simd=1, pixels=4, in_type=IntType(4, False), w_bits=4,
                out_type=IntType(4, True))
    assert MVAU(**base, requant=2, rq_shift=20, rq_bits=20).activation().columns == 6
    for kw, msg in ((dict(requant=3), "requant=3"), (dict(requant=1, rq_shift=49, rq_bits=8), "rq_shift=49"),
                    (dict(requant=1, rq_shift=4, rq_bits=60), "rq_bits=60")):
        with pytest.raises(EngineError, match=msg):
            MVAU(**base, **kw)
    with pytest.raises(EngineError, match="requant needs an output type"):
        MVAU(**dict(base, out_type=None), requant=1, rq_bits=8)


def test_mvau_value_bounds_are_the_extreme_sums_its_weights_allow():
    from hls.engines import MVAU, IntType

    rng = np.random.default_rng(5)
    e = MVAU(2, 12, 3, 1, 1, 4, IntType(4, True), 4, IntType(4, True))
    w = rng.integers(-8, 8, (6, 12))
    lo, hi = e.value_bounds({"weights": w})
    assert np.array_equal(hi, (w * np.where(w > 0, 7, -8)).sum(1))  # reached by these inputs
    assert np.array_equal(lo, (w * np.where(w > 0, -8, 7)).sum(1))
    x = rng.integers(-8, 8, (1000, 12))
    acc = x @ w.T
    assert np.all((acc >= lo) & (acc <= hi))


def test_a_channel_fits_over_the_values_it_can_take_where_the_whole_range_does_not():
    """Thresholds that no value of the channel reaches (beyond its bounds) need not follow
    the affine step: the streamline places them where float rounding puts them."""
    from hls.requant import channel_fits

    lo, hi = value_range(19)  # an 18-bit accumulator
    t = _thresholds(lambda v: 0.2 * v + 6.5, lo, hi, 15)
    assert np.all(t[13:] > 30)  # codes 14 and 15 lie beyond the channel's values, [-30, 30]
    t[13:] = [1000, 1001]  # placed off the affine step
    assert channel_fits(t[None, :], lo, hi)[0] is None
    ((f,), _), = channel_fits(t[None, :], -30, 30)
    v = np.arange(-30, 31)
    assert np.array_equal(requant_apply(v, f.m, f.b, f.shift, 15),
                          intops.multithreshold(v[:, None], t[None, :], 0)[:, 0])


def test_se_scale_value_bounds_are_the_products_its_codes_reach():
    from hls.engines import Eltwise, IntType

    e = Eltwise("se_scale", 8, 4, 3, IntType(4, True), IntType(4, True), IntType(3, False))
    lo, hi = e.value_bounds({})
    x, g = np.arange(-8, 8)[:, None], np.arange(0, 8)[None, :]
    assert (int(lo[0]), int(hi[0])) == (int((x * g).min()), int((x * g).max())) == (-56, 49)
    assert e.activation().value_bits == 8  # the product's type holds -128..127: a bit to spare
