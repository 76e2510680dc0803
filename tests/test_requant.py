"""hls/requant.py: an integer requantization found for a threshold step is exact over the
whole value range, and none is claimed where the step is not affine."""

from __future__ import annotations

import numpy as np
import pytest

from hls import intops
from hls.requant import (fit_channel, fit_node, fit_two_pieces, requant_apply, requant_thresholds,
                         value_range)


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
    a, b = fit_two_pieces(t, lo, hi)
    v = np.arange(lo, hi + 1)
    j = (len(t) + 1) // 2
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
