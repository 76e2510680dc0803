"""Resource prices: what the folding search and the activation-form choice minimise. A unit of
each resource costs its share of the board (scarcer = dearer); the folding search raises the
price of a resource its design goes over (flow/folding.py)."""

from __future__ import annotations

from hls import resources as R
from hls.boards import Board

RESOURCES = ("LUT", "DSP", "BRAM36", "URAM")
Prices = dict[str, float]


def default_prices(board: Board) -> Prices:
    """Cost of one unit of each resource: its share of the board (scarcer = dearer)."""
    b = board.budget()
    return {k: (1.0 / b[k] if b[k] else 1e9) for k in RESOURCES}


def cost(r: R.Resources, prices: Prices) -> float:
    """A resource estimate in board shares at the given prices (the search minimises it)."""
    t = r.as_dict()
    return sum(t[k] * prices[k] for k in RESOURCES)
