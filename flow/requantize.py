"""Per node, the form of its activation: the streamlined thresholds, or an integer
requantization where one is exactly equal (issue 27's requantization lever).

For every node with an activation table, hls/requant.py looks for integers M, B per channel
and a node shift S with clip(floor((v M + B) / 2^S), 0, NT) equal to the thresholds' step for
every value v the channel can take (a PReLU channel: two pieces around its kink). The values
a channel can take are bounded by its weights where the engine has them (an MVAU's
accumulator: the sum of the extreme products, `value_bounds`), else by the value type.
Where it finds one for every channel, the node gets `requant`, `rq_shift`, `rq_bits` in its
params and the table replaces its thresholds (hls/engines/activation.py). The choice:

  auto     where exact and cheaper by the resource estimate at the folding's prices (each
           resource priced by its share of the board: flow/folding.py `default_prices`);
           a multiply-add per lane on a DSP48E2 against NT comparators per lane and the
           thresholds' memory
  always   wherever exact (tests, and a user who prefers DSPs to LUTs)
  off      thresholds everywhere

Exactness is checked again after the choice: the thresholds the new table equals must be the
streamlined ones over the value range, else the build stops (a bug, not a user error).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hls.accel import Accelerator, engine_params
from hls.boards import Board
from hls.engines import EngineError
from hls.requant import channel_fits, node_requant, value_range

MODES = ("auto", "always", "off")


class RequantError(RuntimeError):
    """A requantization that is not equal to the thresholds it replaces (a bug)."""


@dataclass
class Choice:
    node: str
    pieces: int  # 0: kept its thresholds
    reason: str  # why (exact and cheaper, not exact, dearer, ...)


def choose(acc: Accelerator, params: dict[str, dict[str, np.ndarray]], board: Board,
           mode: str = "auto") -> list[Choice]:
    """Rewrites acc's nodes and params in place where a node takes the requantization;
    returns the choice made for every node with an activation table."""
    from flow.folding import default_prices

    if mode not in MODES:
        raise ValueError(f"requant mode {mode!r}: expected one of {', '.join(MODES)}")
    prices = default_prices(board)
    out = []
    for n in acc.nodes:
        e = n.engine()
        a = e.activation()
        if a is None or a.pieces or mode == "off":
            if a is not None:
                out.append(Choice(n.name, a.pieces, "off" if mode == "off" else "already requantized"))
            continue
        thr = params[n.name]["thresholds"]
        lo, hi = e.value_bounds(params[n.name]) or value_range(a.value_bits + 1)
        rq = node_requant(channel_fits(thr, lo, hi), thr, lo, hi)
        if rq is None:
            out.append(Choice(n.name, 0, "not exact"))
            continue
        try:
            cand = replace(e, requant=rq.pieces, rq_shift=rq.shift, rq_bits=rq.table_bits)
        except EngineError as err:  # v * M + B wider than 64 bits
            out.append(Choice(n.name, 0, f"too wide ({err})"))
            continue
        ratio = _cost_ratio(n, e, cand, prices)
        if mode == "auto" and ratio >= 1:
            out.append(Choice(n.name, 0, f"dearer ({ratio:.2f}x the thresholds' cost)"))
            continue
        _check_equal(n.name, cand, rq.table, thr, lo, hi)
        n.params = engine_params(cand)
        params[n.name]["thresholds"] = rq.table
        out.append(Choice(n.name, rq.pieces, f"exact, {ratio:.2f}x the thresholds' cost"))
    return out


def _cost_ratio(n, e, cand, prices) -> float:
    """The candidate's estimated cost over the engine's, at the folding's prices."""
    from flow.folding import cost

    return cost(cand.resources(n.memory, n.mac), prices) / cost(e.resources(n.memory, n.mac), prices)


# What the default design's exact tables needed (measured 2026-11-30, 117 nodes): entries of
# value bits + 4..13 (+9 typical for two pieces), shifts of value bits - 3..+8.
ASSUMED_TABLE_EXTRA_BITS = 10
ASSUMED_SHIFT_EXTRA_BITS = 4


def assume(acc: Accelerator, board: Board) -> list[Choice]:
    """A what-if for a design without weights (sim/run.py --model --requant-assumed): every
    node with an activation table is given a two-piece requantization (an MVAU: it may follow
    a PReLU) or a one-piece one (a lane engine), with table entries ASSUMED_TABLE_EXTRA_BITS
    wider than its values, where the estimate says that is cheaper. Whether a node's
    thresholds are exactly such a requantization is known only with its weights (choose)."""
    from flow.folding import default_prices

    prices = default_prices(board)
    out = []
    for n in acc.nodes:
        e = n.engine()
        a = e.activation()
        if a is None or a.pieces:
            continue
        cand = replace(e, requant=2 if n.kind == "mvau" else 1, rq_shift=a.value_bits + ASSUMED_SHIFT_EXTRA_BITS,
                       rq_bits=a.value_bits + ASSUMED_TABLE_EXTRA_BITS)
        ratio = _cost_ratio(n, e, cand, prices)
        if ratio < 1:
            n.params = engine_params(cand)
        out.append(Choice(n.name, cand.requant if ratio < 1 else 0, f"assumed, {ratio:.2f}x the thresholds' cost"))
    return out


def _check_equal(name: str, cand: Any, table: np.ndarray, thr: np.ndarray, lo, hi) -> None:
    """The table's thresholds equal thr over each channel's values [lo, hi] (a threshold
    at or below lo, or above hi, only has to stay there)."""
    lo = np.broadcast_to(lo, len(thr))[:, None]
    hi = np.broadcast_to(hi, len(thr))[:, None]
    if not np.array_equal(np.clip(cand.activation().thresholds_of(table), lo, hi + 1),
                          np.clip(thr, lo, hi + 1)):
        raise RequantError(f"node {name}: the requantization found is not equal to its thresholds")


def summary(choices: list[Choice]) -> str:
    """One line: how many nodes took one or two pieces, and of how many."""
    one = sum(1 for c in choices if c.pieces == 1)
    two = sum(1 for c in choices if c.pieces == 2)
    return (f"{one + two} of {len(choices)} activation tables are integer requantizations "
            f"({one} one piece, {two} two)")
