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
           resource priced by its share of the board: flow/prices.py `default_prices`);
           a multiply-add per lane on a DSP48E2 against NT comparators per lane and the
           thresholds' memory
  always   wherever exact (tests, and a user who prefers DSPs to LUTs)
  off      thresholds everywhere

The folding knows the forms: before it, the fold step streamlines the unfolded network and
fits every node (fit_forms: a node's values do not depend on the folding), and the folding
prices each candidate with the form the same rule would give it (Forms.apply). The
description it saves has thresholds again (strip_forms); the streamline step then makes the
choice at the final folding (choose) and writes the tables.

Exactness is checked again after the choice: the thresholds the new table equals must be the
streamlined ones over the value range, else the build stops (a bug, not a user error).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from flow.prices import cost, default_prices
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


@dataclass(frozen=True)
class Form:
    """A node's exact integer requantization: its pieces, shift and table entry bits."""
    pieces: int
    shift: int
    bits: int


@dataclass
class Forms:
    """The exact forms of a design's nodes (by node name) and the mode that takes them; the
    folding prices each node with the form it would get (fold_and_size), so the folding and
    the choice after it (choose) apply one rule."""
    exact: dict[str, Form]
    mode: str = "auto"

    def apply(self, e: Any, name: str, prices: dict, memory: str = "auto", mac: str = "auto") -> Any:
        """Engine e with node `name`'s exact form where the mode takes it, else e."""
        f = self.exact.get(name)
        if f is None or self.mode == "off":
            return e
        cand = replace(e, requant=f.pieces, rq_shift=f.shift, rq_bits=f.bits)
        return cand if _takes(self.mode, _cost_ratio(memory, mac, e, cand, prices)) else e


def _takes(mode: str, ratio: float) -> bool:
    """Whether `mode` takes an exact form that costs `ratio` x the thresholds."""
    return mode == "always" or (mode == "auto" and ratio < 1)


def _fit(e: Any, params: dict[str, np.ndarray]):
    """(the node's exact requantization, its engine with it) or (None, why not)."""
    a = e.activation()
    thr = params["thresholds"]
    lo, hi = e.value_bounds(params) or value_range(a.value_bits + 1)
    rq = node_requant(channel_fits(thr, lo, hi), thr, lo, hi)
    if rq is None:
        return None, "not exact"
    try:
        return rq, replace(e, requant=rq.pieces, rq_shift=rq.shift, rq_bits=rq.table_bits)
    except EngineError as err:  # v * M + B wider than 64 bits
        return None, f"too wide ({err})"


def fit_forms(acc: Accelerator, params: dict[str, dict[str, np.ndarray]], mode: str = "auto") -> Forms:
    """The exact forms of acc's nodes (any folding of the same network: a node's values do
    not depend on it)."""
    exact = {}
    for n in acc.nodes:
        e = n.engine()
        a = e.activation()
        if a is None or a.pieces or n.name not in params:
            continue
        rq, cand = _fit(e, params[n.name])
        if rq is not None:
            exact[n.name] = Form(rq.pieces, rq.shift, rq.table_bits)
    return Forms(exact, mode)


def strip_forms(acc: Accelerator) -> None:
    """Every node back to thresholds (in place): the folding's estimate priced the forms, the
    streamline step writes them with their tables (choose)."""
    for n in acc.nodes:
        e = n.engine()
        a = e.activation()
        if a is not None and a.pieces:
            n.params = engine_params(replace(e, requant=0, rq_shift=0, rq_bits=0))


def choose(acc: Accelerator, params: dict[str, dict[str, np.ndarray]], board: Board,
           mode: str = "auto") -> list[Choice]:
    """Rewrites acc's nodes and params in place where a node takes the requantization;
    returns the choice made for every node with an activation table."""
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
        rq, cand = _fit(e, params[n.name])
        if rq is None:
            out.append(Choice(n.name, 0, cand))
            continue
        ratio = _cost_ratio(n.memory, n.mac, e, cand, prices)
        if not _takes(mode, ratio):
            out.append(Choice(n.name, 0, f"dearer ({ratio:.2f}x the thresholds' cost)"))
            continue
        lo, hi = e.value_bounds(params[n.name]) or value_range(a.value_bits + 1)
        _check_equal(n.name, cand, rq.table, thr, lo, hi)
        n.params = engine_params(cand)
        params[n.name]["thresholds"] = rq.table
        out.append(Choice(n.name, rq.pieces, f"exact, {ratio:.2f}x the thresholds' cost"))
    return out


def _cost_ratio(memory: str, mac: str, e, cand, prices) -> float:
    """The candidate's estimated cost over the engine's, at the folding's prices."""
    return cost(cand.resources(memory, mac), prices) / cost(e.resources(memory, mac), prices)


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
    prices = default_prices(board)
    out = []
    for n in acc.nodes:
        e = n.engine()
        a = e.activation()
        if a is None or a.pieces:
            continue
        cand = replace(e, requant=2 if n.kind == "mvau" else 1, rq_shift=a.value_bits + ASSUMED_SHIFT_EXTRA_BITS,
                       rq_bits=a.value_bits + ASSUMED_TABLE_EXTRA_BITS)
        ratio = _cost_ratio(n.memory, n.mac, e, cand, prices)
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
