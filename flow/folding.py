"""Chooses the folding (PE and SIMD per layer) of an accelerator.

Two targets:
- `fold_for_fps`: a given FPS at the least resources: every node gets the cheapest folding
  (by the resource model, normalised to the board) whose cycles per frame are within the
  frame budget clock / fps; sliding windows that then read too slowly get a wider producer;
- `fold_for_board`: the highest FPS whose estimate fits a fraction (default 80%) of every
  board resource: a bisection over the frame budget, with memories placed where BRAM is
  short (weights into URAM caches, DDR or LUTRAM:
  hls/estimate.py place_memories) and lane pairs moved into DSPs where LUTs are
  (place_multipliers).
A FINN-format folding JSON ({"layer": {"PE": p, "SIMD": s}}) given by the user overrides
the search for the layers it names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Union

from hls.accel import Accelerator, DescriptionError, engine_params
from hls.boards import Board
from hls.estimate import DesignEstimate, estimate, frame_cycles, place_resources
from flow import partition
from flow.lowering import Folding, lower
from flow.partition import SharedChoice
from flow.prices import Prices, cost, default_prices
from flow.requantize import Forms
from hls.engines import MVAU, SWG, LaneEngine, legal_foldings
from hls.engines.mvau import PAIRS
from model.arch import Arch
from model.quant import QuantConfig


class FoldingError(ValueError):
    pass


def load_folding(path: Union[str, Path]) -> Folding:
    """Reads a FINN-format folding JSON; checks that PE/SIMD are positive integers."""
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise FoldingError(f"{path}: not a readable folding JSON ({e})") from None
    if not isinstance(d, dict):
        raise FoldingError(f"{path}: a folding JSON maps layer names to {{'PE': .., 'SIMD': ..}}")
    out: Folding = {}
    for k, v in d.items():
        if k == "Defaults":
            continue
        if not isinstance(v, dict):
            raise FoldingError(f"{path}: entry {k!r} is not an object")
        for key, val in v.items():
            if key in ("PE", "SIMD") and (not isinstance(val, int) or val < 1):
                raise FoldingError(f"{path}: {k}.{key}={val!r} must be a positive integer")
            if key == "mac_pack" and val not in (1, 2):
                raise FoldingError(f"{path}: {k}.mac_pack={val!r}: 1 or 2 products per DSP multiplier")
            if key == "mac_pair" and val not in PAIRS:
                raise FoldingError(f"{path}: {k}.mac_pair={val!r}: one of {', '.join(PAIRS)} (which two "
                                   f"products share a DSP with mac_pack 2: PE lanes or SIMD elements)")
        for key, allowed in (("resType", ("auto", "lut", "dsp")),
                             ("ram_style", ("auto", "block", "ultra", "distributed", "ddr"))):
            if key in v and v[key] not in allowed:
                raise FoldingError(f"{path}: {k}.{key}={v[key]!r}: one of {', '.join(allowed)} "
                                   f"(FINN's values; ram_style ddr: weights read from DDR)")
        out[k] = {kk: (int(vv) if kk in ("PE", "SIMD") else vv) for kk, vv in v.items()
                  if kk in ("PE", "SIMD", "resType", "ram_style", "mac_pack", "mac_pair")}
    return out


def check_folding(arch: Arch, quant: QuantConfig, folding: Folding) -> None:
    """Raises FoldingError naming unknown layers or illegal PE/SIMD (before any long step)."""
    try:
        lower(arch, quant, folding)
    except (DescriptionError, ValueError) as e:
        raise FoldingError(f"illegal folding: {e}") from None


def _cheapest_mvau(e: MVAU, budget: int, prices: Prices, fixed: dict,
                   window: Optional[SWG] = None, form: Optional[Callable[[MVAU, str], MVAU]] = None) -> dict:
    """`window`: the sliding window feeding the engine, whose banks allow only some SIMD;
    `form`: the engine as it would be built with a MAC style (its activation form)."""
    best: Optional[tuple[float, dict]] = None
    fastest: Optional[tuple[int, dict]] = None
    pes = [fixed["PE"]] if "PE" in fixed else legal_foldings(e.mh)
    simds = [fixed["SIMD"]] if "SIMD" in fixed else (
        SWG.legal_simd(window.k, window.gs) if window is not None else legal_foldings(e.mw))
    macs = [fixed["resType"]] if "resType" in fixed else ["lut", "dsp"]
    packs = [fixed["mac_pack"]] if "mac_pack" in fixed else [1, 2]
    for pe in pes:
        for simd in simds:
            cyc = e.pixels * e.groups * (e.mh // pe) * (e.mw // simd)
            if fastest is None or cyc < fastest[0]:
                fastest = (cyc, {"PE": pe, "SIMD": simd})
            if cyc > budget:
                continue
            for pack in packs:
                if pack == 2 and ("dsp" not in macs or not e.can_pack(pe, simd)):
                    continue
                m = MVAU(e.groups, e.mw, e.mh, pe, simd, e.pixels, e.in_type, e.w_bits, e.out_type,
                         pack=pack)
                for mac in (["dsp"] if pack == 2 else macs):
                    c = cost((form(m, mac) if form else m).resources("auto", mac), prices)
                    if best is None or c < best[0]:
                        best = (c, {"PE": pe, "SIMD": simd, "resType": mac, "mac_pack": pack})
    if best is None:
        assert fastest is not None
        return fastest[1]
    return best[1]


def _elt_width(e: LaneEngine, budget: int) -> int:
    for n in legal_foldings(e.ch):
        f = replace(e, n=n)
        if f.cycles() <= budget:
            return n
    return e.ch


def _source_key(acc: Accelerator, stream: str) -> Optional[str]:
    """The folding key (layer or SE FC name) of the node that decides a stream's width."""
    by_out = {o: n for n in acc.nodes for o in n.outputs}
    while stream in by_out:
        n = by_out[stream]
        src = n.engine().width_from
        if src == "node":
            return n.name
        if src == "layer":
            return n.layer
        stream = n.inputs[0]  # the node passes its input's width through
    return None


def fold_for_cycles(arch: Arch, quant: QuantConfig, budget: int, board: Board,
                    user: Optional[Folding] = None, max_rounds: int = 20,
                    prices: Optional[Prices] = None, forms: Optional[Forms] = None,
                    shared: Optional[SharedChoice] = None) -> Folding:
    """The cheapest folding whose every node takes at most `budget` cycles per frame
    (where the parallelism allows), at the given resource prices; `forms`: each node priced
    with the activation form it would take (flow/requantize.py). The layers the shared
    engine runs (`shared`) keep the sequential folding: they get no engines of their own."""
    user = dict(user or {})
    skip = shared.layers(arch) if shared is not None else set()
    prices = prices or default_prices(board)
    base = lower(arch, quant, user, strict=False)
    folding: Folding = {k: dict(v) for k, v in user.items()}
    layer_pe: dict[str, int] = {}  # a layer's lane engines share its PE: the widest any needs
    for n in base.nodes:
        e = n.engine()
        fixed = user.get(n.name, {})
        if n.layer in skip:
            continue
        if e.width_from == "node":
            if "PE" in fixed and "SIMD" in fixed:
                continue
            win = base.window_of(n)
            form = None
            if forms is not None:
                form = (lambda m, mac, name=n.name: forms.apply(m, name, prices, "auto", mac))
            folding[n.name] = dict(fixed, **_cheapest_mvau(
                e, budget, prices, fixed, win.engine() if win is not None else None, form))
        elif e.width_from == "layer" and n.layer not in user:
            layer_pe[n.layer] = max(layer_pe.get(n.layer, 1), _elt_width(e, budget))
    for key, pe in layer_pe.items():
        folding[key] = {"PE": pe}
    for _ in range(max_rounds):
        acc = lower(arch, quant, folding, strict=False)
        changed = False
        for n in acc.nodes:
            e = n.engine()
            # a node folded by its own entry is already as fast as its entry makes it; a wider
            # producer speeds up only a node that reads narrower words than it could
            if e.cycles() <= budget or e.width_from == "node" or not e.input_limits_speed() or n.layer in skip:
                continue
            key = _source_key(acc, n.inputs[0]) if n.inputs else None
            if key is None or key in user or key in skip:
                continue
            cur = folding.get(key, {"PE": 1})
            src = acc.node(key) if any(x.name == key for x in acc.nodes) else None
            ch = src.engine().pe_space() if src is not None else arch[key].out_shape[0]
            wider = [d for d in legal_foldings(ch) if d > cur.get("PE", 1)]
            if wider:
                folding[key] = dict(cur, PE=wider[0])
                changed = True
        if not changed:
            break
    return folding


@dataclass
class FoldingResult:
    folding: Folding
    accelerator: Accelerator
    estimate: DesignEstimate
    cycles_per_frame: int
    # the frame budget asked for (fold_for_fps), which the sized FIFOs must hold; None for
    # fold_for_board, whose design must keep its own unbounded throughput
    requested_cycles: Optional[int] = None
    # the other re-pricing rounds' distinct designs, least over first: their estimates leave
    # out the FIFOs, which are sized later (fold_and_size compares the runner-up sized)
    alternatives: tuple["FoldingResult", ...] = ()


def _fold_priced(arch: Arch, quant: QuantConfig, budget: int, board: Board, fraction: float,
                 clock_mhz: float, user: Optional[Folding], rounds: int = 5,
                 forms: Optional[Forms] = None, shared: Optional[SharedChoice] = None) -> FoldingResult:
    """fold_for_cycles, re-priced: a resource over fraction x budget gets dearer, so the
    search trades it for others (e.g. LUT multipliers for DSPs)."""
    prices = default_prices(board)
    seen: list[FoldingResult] = []
    for _ in range(rounds):
        r = _build(arch, quant, fold_for_cycles(arch, quant, budget, board, user, prices=prices, forms=forms,
                                                shared=shared),
                   board, fraction, clock_mhz, forms, user, shared, budget)
        over = r.estimate.over(board, fraction)
        if not over:
            return r
        if all(r.folding != o.folding for o in seen):
            seen.append(r)
        for k in over:
            if k in prices:
                prices[k] *= 3.0
    seen.sort(key=lambda o: _overshoot(o, board, fraction))  # stable: the earlier round wins a tie
    return replace(seen[0], alternatives=tuple(seen[1:]))


def _overshoot(r: "FoldingResult", board: Board, fraction: float) -> float:
    return r.estimate.overshoot(board, fraction)


def _build(arch: Arch, quant: QuantConfig, folding: Folding, board: Board, fraction: float,
           clock_mhz: float, forms: Optional[Forms] = None, user: Optional[Folding] = None,
           shared: Optional[SharedChoice] = None, budget: Optional[int] = None) -> FoldingResult:
    """The folding's design and estimate; with `forms`, its nodes carry the activation forms
    they would take (at the board's default prices, as the streamline step's choice); with
    `shared`, its shared part (flow/partition.py, GP chosen for `budget`). Its memories and
    multipliers are placed for the board (`_place`)."""
    acc = lower(arch, quant, folding, board=board.name, clock_mhz=clock_mhz, strict=False)
    if forms is not None:
        prices = default_prices(board)
        for n in acc.nodes:
            e = n.engine()
            f = forms.apply(e, n.name, prices, n.memory, n.mac)
            if f is not e:
                n.params = engine_params(f)
    acc = partition.apply(acc, shared, board, budget)
    folding = _place(acc, folding, board, fraction, user)
    return FoldingResult(folding, acc, estimate(acc), frame_cycles(acc, board))


def mac_fixed(user: Optional[Folding]) -> frozenset[str]:
    """The layers whose MAC style the user's folding sets (resType or mac_pack): the resource
    placement keeps them."""
    return frozenset(k for k, v in (user or {}).items() if "resType" in v or "mac_pack" in v or "mac_pair" in v)


def _place(acc: Accelerator, folding: Folding, board: Board, fraction: float,
           user: Optional[Folding]) -> Folding:
    """hls/estimate.py place_resources, the user's MAC styles kept (a layer whose folding
    entry sets resType or mac_pack); returns the folding with the layers moved to DSPs as they
    are now built."""
    moved = place_resources(acc, board, fraction, mac_fixed(user))
    if not moved:
        return folding
    folding = {k: dict(v) for k, v in folding.items()}
    for name in moved:
        folding[name] = dict(folding.get(name, {}), resType="dsp", mac_pack=2,
                             mac_pair=acc.node(name).engine().pair)
    return folding


def fold_for_fps(arch: Arch, quant: QuantConfig, board: Board, fps: float, *,
                 clock_mhz: Optional[float] = None, fraction: float = 0.8,
                 user: Optional[Folding] = None, forms: Optional[Forms] = None,
                 shared: Optional[SharedChoice] = None) -> FoldingResult:
    clk = clock_mhz or board.clock_mhz
    budget = int(clk * 1e6 / fps)
    fr = _fold_priced(arch, quant, budget, board, fraction, clk, user, forms=forms, shared=shared)
    return replace(fr, requested_cycles=budget,
                   alternatives=tuple(replace(a, requested_cycles=budget) for a in fr.alternatives))


def fold_for_board(arch: Arch, quant: QuantConfig, board: Board, *, fraction: float = 0.8,
                   clock_mhz: Optional[float] = None, user: Optional[Folding] = None,
                   steps: int = 18, forms: Optional[Forms] = None,
                   shared: Optional[SharedChoice] = None) -> FoldingResult:
    """Highest throughput that fits fraction x every resource of the board (bisection on the
    frame's cycle budget; the FIFOs are sized afterwards: fold_and_size)."""
    clk = clock_mhz or board.clock_mhz
    # the slowest folding, re-priced like the others: at default prices it is not the
    # smallest (LUT multipliers and LUTRAM), and a budget it misses is not one no folding fits
    slow = _fold_priced(arch, quant, 1 << 40, board, fraction, clk, user, forms=forms, shared=shared)
    if not slow.estimate.fits(board, fraction):
        return slow  # even the smallest design does not fit; the report says which resource
    lo, hi = 1, slow.cycles_per_frame  # hi fits
    best = slow
    for _ in range(steps):
        if hi - lo <= max(1, hi // 200):
            break
        mid = (lo + hi) // 2
        r = _fold_priced(arch, quant, mid, board, fraction, clk, user, forms=forms, shared=shared)
        if r.estimate.fits(board, fraction):
            hi, best = min(mid, r.cycles_per_frame), r
        else:
            lo = mid + 1
    return best


def fold_and_size(arch, quant, board: Board, clock: float, fps: Optional[float], fraction: float,
                  user, attempts: int = 8, forms: Optional[Forms] = None, shared: Optional[SharedChoice] = None):
    """The folding (for `fps`, or the fastest within `fraction` of the board) with its FIFOs
    sized by simulation and the large memories placed again around them. Returns the folding
    and its sizing; the caller checks whether it fits.

    For the board: the fastest folding that fits without FIFOs is the upper bound. Its FIFOs
    (sized afterwards) can push it over, and by much: a fast design's deep FIFOs are wide
    (measured on the default network: 267 BRAM36 of FIFOs at 50k cycles a frame, 37 at 100k).
    Then slower cycle budgets are tried, each folded and sized: doubling until one fits, then
    bisecting (geometrically) between the last that did not and the first that did, at most
    `attempts` sizings, stopping within 10%."""
    if fps:
        fr = fold_for_fps(arch, quant, board, fps, clock_mhz=clock, fraction=fraction, user=user, forms=forms,
                          shared=shared)
        return _size_best(fr, board, fraction, user)
    fr = fold_for_board(arch, quant, board, fraction=fraction, clock_mhz=clock, user=user, forms=forms,
                        shared=shared)
    sz, est = _size(fr, board, fraction, user)
    if est.fits(board, fraction):
        return fr, sz
    best: tuple = (fr, sz, est)  # the fitting one with the fewest cycles, else the least over
    lo, hi, fitted = fr.cycles_per_frame, None, False
    for _ in range(attempts):
        if hi is not None and hi <= lo * 1.1:
            break
        target = 2 * lo if hi is None else int((lo * hi) ** 0.5)
        r = _fold_priced(arch, quant, target, board, fraction, clock, user, forms=forms, shared=shared)
        r_sz, r_est = _size(r, board, fraction, user)
        if r_est.fits(board, fraction):
            hi, fitted, best = r.cycles_per_frame, True, (r, r_sz, r_est)
        else:
            if hi is None and r.cycles_per_frame <= lo:
                break  # a larger budget gives no slower folding: the slowest is over too
            lo = max(lo, target)
            if not fitted and r_est.overshoot(board, fraction) < best[2].overshoot(board, fraction):
                best = (r, r_sz, r_est)
    return best[0], best[1]


def _size_best(fr: FoldingResult, board: Board, fraction: float, user: Optional[Folding] = None):
    """fr sized (_size); where it is then over the budget and the re-pricing left another
    design (fr.alternatives), the runner-up sized too, and the one less over kept: the rounds
    were compared without their FIFOs, which can take a third of the BRAM (measured on the
    full-size VarGFaceNet at 1000 FPS, 2026-12-01: the round chosen without them was LUT 131%,
    BRAM36 133%, and 217% once sized; the runner-up LUT 187%, BRAM36 77%). (folding, sizing)."""
    sz, est = _size(fr, board, fraction, user)
    if est.fits(board, fraction) or not fr.alternatives:
        return fr, sz
    alt = replace(fr.alternatives[0], alternatives=())
    alt_sz, alt_est = _size(alt, board, fraction, user)
    if alt_est.overshoot(board, fraction) < est.overshoot(board, fraction):
        return alt, alt_sz
    return fr, sz


def _size(fr: FoldingResult, board: Board, fraction: float, user: Optional[Folding] = None):
    """Sizes fr's FIFOs by simulation (in place), places the memories and multipliers again,
    and sizes again where that packed FIFOs into URAM (sim/fifo_sizing.py size_and_place);
    (sizing, estimate)."""
    from sim.fifo_sizing import size_and_place

    acc = fr.accelerator

    def place() -> None:  # the FIFOs' memories were not known before
        fr.folding = _place(acc, fr.folding, board, fraction, user)

    sz = size_and_place(acc, place, target_cycles=fr.requested_cycles)
    return sz, estimate(acc)
