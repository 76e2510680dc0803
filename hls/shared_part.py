"""A part of a described network run by the shared block engine (vg_shared.h): its program
from the description's layers (hls/shared_program.py), its rows from the nodes' weights and
thresholds, packed as the engine's DDR reader reads them, and the engine compiled with g++
and run on the part's input map: the C-simulation of the shared part, bit-exact with the
golden model's nodes for the same layers (tests/test_shared_engine.py).

The C-simulation of a part on its own: hls/shared_csim.py.

The rows (the engine's region of the parameter buffer; hls/README.md, "The shared engine's
rows"): for each op with rows, tile by tile, the tile's weight rows and then its threshold
rows, each row a whole number of words of the master (weights: W_BITS two's complement
fields, lane k, group j, element e at field (k * GP + j) * 8 + e; thresholds: THR_BITS fields,
field l = threshold r * Q + l / L of lane l % L), words little-endian. An integer
requantization (requant tables) becomes the thresholds it equals (Activation.thresholds_of).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np

from hls.engines.base import IntType, acc_bits, clog2
from hls.shared_program import (GAP, OP_DENSE, OP_GCONV, OP_IN, OP_OUT, OP_POOL, PE, Plan,
                                ProgramError, SharedOp, build_program, engine_bits, part_layers, twords, wwords)
from model.arch import Arch

if TYPE_CHECKING:  # hls.accel checks a description's shared part with this module
    from hls.accel import Accelerator, Node


SHARED = "shared"  # the memory of a node the shared engine runs
MAP_IMPLS = ("bram", "uram")  # the memories of the engine's map slots (uram: description version 9)


class SharedPartError(ProgramError):
    """A description whose shared part does not hold together; the message names the problem."""


@dataclass
class SharedPart:
    """The program of a part and what the engine's config needs."""

    plan: Plan
    nodes: list[Optional[str]]  # the description node whose parameters each op takes
    in_stream: str  # the description's streams carrying the part's input and output maps
    out_stream: str
    nt: int
    map_type: IntType  # the one type of every slot's codes
    maps_impl: str = "bram"  # the map slots' memory: bram, or uram (description version 9)

    @property
    def ops(self) -> list[SharedOp]:
        return self.plan.ops

    @property
    def gp(self) -> int:
        return self.plan.gp

    @property
    def w_bits(self) -> int:
        return self.plan.w_bits

    @property
    def acc_bits(self) -> int:
        """The engine's accumulators and thresholds (ACC_BITS = THR_BITS): the plan's thr_bits."""
        return self.plan.thr_bits

    def pack_shift(self) -> int:
        """SH of two lanes' products in one multiplier: the bits of an 8-term sum (vg_shared.h)."""
        return acc_bits(8, self.map_type, self.w_bits)

    def mac_pack(self) -> int:
        """2 (two lanes' products a DSP48E2) where the packed operands fit its 27 x 18 bits, else 1."""
        m = self.map_type
        return 2 if self.w_bits + self.pack_shift() + 1 <= 27 and m.bits + (0 if m.signed else 1) <= 18 else 1

    def words(self) -> int:
        """Words of the master the rows take (the reader's cycles a frame)."""
        return self.plan.words()

    def spec(self, gap: int) -> dict[str, Any]:
        """The description's `shared` entry (version 7; maps_impl, only where uram: version 9)."""
        spec = {"stages": list(self.plan.stages), "gp": self.gp, "gap": gap, "in_stream": self.in_stream,
                "out_stream": self.out_stream, "ops": len(self.ops), "cycles": sum(o.iters for o in self.ops),
                "words": self.words()}
        return {**spec, "maps_impl": self.maps_impl} if self.maps_impl != "bram" else spec


def _value_node(acc: Accelerator, value: str) -> str:
    """The node whose first output is a layer's value: the layer's own node, or an SE's scale."""
    names = {n.name for n in acc.nodes}
    for cand in (value, f"{value}.scale"):
        if cand in names:
            return cand
    raise ProgramError(f"{value}: no node of the description gives its output")


def _op_node(op: SharedOp) -> Optional[str]:
    """The node whose weights and thresholds the op takes (None: OP_IN / OP_OUT)."""
    if op.kind in (OP_IN, OP_OUT):
        return None
    if op.kind == OP_POOL and op.layer.endswith(".pool"):
        return op.layer + "_q"  # an SE's pool: the sums' thresholds are the pool_q node's
    return op.layer


def shared_part(acc: Accelerator, stages: Sequence[str], gp: int, gap: int = GAP) -> SharedPart:
    """The program of `stages` of the described network, each op checked against its node."""
    arch = Arch.from_dict(acc.arch)
    by_name = {n.name: n for n in acc.nodes}
    layers = part_layers(arch, stages)
    if any(layer.op == "pool" for layer in layers):
        raise ProgramError("a global pool layer in the part: not mapped onto the engine's ops yet")
    nts: dict[int, str] = {}  # output levels - 1 -> a node that has them
    biases, w_bits = {}, set()
    names = {layer.name for layer in layers}
    for n in acc.nodes:
        if n.layer not in names:
            continue
        e = n.engine()
        a = e.activation() if hasattr(e, "activation") else None
        if a is not None:
            nts.setdefault(a.nt, n.name)
            biases[n.name] = a.out_bias
        elif n.kind == "mvau":
            raise ProgramError(f"{n.name}: its output is the raw accumulator (no activation); the engine "
                               f"writes codes: keep it resident")
        if hasattr(e, "w_bits"):
            w_bits.add(e.w_bits)
    if len(nts) != 1 or len(w_bits) != 1:
        raise ProgramError(f"parts {', '.join(stages)}: the engine takes one output width and one weight width; "
                           f"the nodes have {' and '.join(f'{k + 1} output levels ({v})' for k, v in nts.items())}, "
                           f"weights of {' and '.join(map(str, sorted(w_bits)))} bits")
    nt = next(iter(nts))
    lo = min(biases.values())
    ops, maps, slot = build_program(arch, stages, gp, nt, lo, max(biases.values()), gap)
    nodes = [_op_node(o) for o in ops]
    for i, (o, name) in enumerate(zip(ops, nodes)):
        if name is None:
            continue
        if name not in by_name or name not in biases:
            raise ProgramError(f"{o.layer}: the description has no node {name} with an activation")
        ops[i] = replace(o, obias=biases[name])  # each op's codes as its node's (ReLU: 0, signed: -2^(b-1))
    # the slots' one type: every code of the part's maps (signed activations, unsigned gates)
    hi = max(b + nt for b in biases.values())
    map_type = IntType(max(clog2(hi + 1), clog2(-lo)) + 1, True) if lo < 0 else IntType(clog2(hi + 1), False)
    value_bits = max(by_name[n].engine().activation().value_bits for n in nodes if n is not None)
    wb = w_bits.pop()
    bits = engine_bits(ops, gp, map_type, wb, value_bits)
    plan = Plan(arch.name, list(stages), gp, acc.board, acc.clock_mhz, ops, maps, slot, wb, bits, map_type.bits)
    first = next(o for o in ops if o.kind == OP_IN).layer.removesuffix(" (in)")
    last = next(o for o in ops if o.kind == OP_OUT).layer.removesuffix(" (out)")
    return SharedPart(plan, nodes, by_name[_value_node(acc, first)].outputs[0],
                      by_name[_value_node(acc, last)].outputs[0], nt, map_type)


def region_nodes(acc: Accelerator, in_stream: str, out_stream: str) -> list[Node]:
    """The nodes strictly between two streams, in description order: every node reached from
    in_stream's consumer without crossing out_stream. The region must be closed: its nodes
    read only in_stream and each other's streams, and write only out_stream and streams the
    region reads."""
    streams = acc.streams_by_name()
    for s in (in_stream, out_stream):
        if s not in streams:
            raise SharedPartError(f"no stream {s!r} in the description")
    by_name = {n.name: n for n in acc.nodes}
    seen: set[str] = set()
    todo = [streams[in_stream].consumer]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in by_name:
            raise SharedPartError(f"the region from {in_stream} reaches {name} without passing {out_stream}")
        seen.add(name)
        for o in by_name[name].outputs:
            c = streams[o].consumer
            if o != out_stream and c not in seen:
                todo.append(c)
    region = [n for n in acc.nodes if n.name in seen]
    inner = {o for n in region for o in n.outputs}
    for n in region:
        bad = [i for i in n.inputs if i != in_stream and i not in inner]
        if bad:
            raise SharedPartError(f"node {n.name} of the part reads {', '.join(bad)} from outside it")
    if streams[out_stream].producer not in seen:
        raise SharedPartError(f"{out_stream} is not written by the part that {in_stream} enters")
    return region


def share(acc: Accelerator, stages: Sequence[str], gp: int, gap: int = GAP) -> Accelerator:
    """The description with `stages` run by the shared block engine (version 7): the part's
    nodes get memory "shared", the description its `shared` entry."""
    part = shared_part(acc, stages, gp, gap)
    names = {n.name for n in region_nodes(acc, part.in_stream, part.out_stream)}
    out = copy.deepcopy(acc)
    for n in out.nodes:
        if n.name in names:
            n.memory = SHARED
        elif n.memory == SHARED:
            n.memory = "auto"
    out = replace(out, version=max(acc.version, 7), shared=part.spec(gap), root=acc.root)
    check_shared(out)
    return out


SPEC_FIELDS = {"stages": list, "gp": int, "gap": int, "in_stream": str, "out_stream": str, "ops": int,
               "cycles": int, "words": int}


def spec_part(acc: Accelerator) -> SharedPart:
    """The shared part a description's `shared` entry names (SharedPartError if it names none
    or one that does not fit the description)."""
    sh = acc.shared
    if not isinstance(sh, dict):
        raise SharedPartError("the description has no shared part")
    for k, t in SPEC_FIELDS.items():
        v = sh.get(k)
        if not isinstance(v, t) or isinstance(v, bool) or (t is int and v < (0 if k == "gap" else 1)) \
                or (t is list and not (v and all(isinstance(x, str) and x for x in v))):
            raise SharedPartError(f"field {k} = {v!r}: must be {'a list of stage names' if t is list else t.__name__}"
                                  f"{'' if t is not int else ' >= 0' if k == 'gap' else ' >= 1'}")
    impl = sh.get("maps_impl", "bram")
    if impl not in MAP_IMPLS:
        raise SharedPartError(f"field maps_impl = {impl!r}: must be one of {', '.join(MAP_IMPLS)}")
    try:
        return replace(shared_part(acc, sh["stages"], sh["gp"], sh["gap"]), maps_impl=impl)
    except SharedPartError:
        raise
    except ProgramError as e:
        raise SharedPartError(str(e)) from None


def check_shared(acc: Accelerator) -> None:
    """The description's shared part against the description: the program recomputed from it
    has the recorded streams, op count, cycles and words, and the nodes with memory "shared"
    are exactly those between its streams."""
    marked = [n.name for n in acc.nodes if n.memory == SHARED]
    if acc.shared is None:
        raise SharedPartError(f"nodes {', '.join(marked[:3])}{' ...' if len(marked) > 3 else ''} have memory "
                              f"'shared' but the description names no shared part")
    part = spec_part(acc)
    sh = acc.shared
    got = part.spec(sh["gap"])
    for k in ("in_stream", "out_stream", "ops", "cycles", "words"):
        if got[k] != sh[k]:
            raise SharedPartError(f"{k} is {sh[k]!r} in the description, {got[k]!r} by this code's program planner: "
                                  f"rebuild the design with python -m flow build")
    region = {n.name for n in region_nodes(acc, part.in_stream, part.out_stream)}
    if region != set(marked):
        extra, missing = sorted(set(marked) - region), sorted(region - set(marked))
        raise SharedPartError(f"the nodes with memory 'shared' are not the part's: "
                              f"{'outside it: ' + ', '.join(extra[:3]) if extra else ''}"
                              f"{'; ' if extra and missing else ''}"
                              f"{'not marked: ' + ', '.join(missing[:3]) if missing else ''}")


# ---- the rows -------------------------------------------------------------------------------------
def _pack_rows(fields: np.ndarray, bits: int, words: int, port_bits: int) -> np.ndarray:
    """Rows (..., N) of `bits`-bit two's complement fields -> (..., words * port_bits / 8)
    little-endian bytes, fields from bit 0, the rest zero."""
    lead, n = fields.shape[:-1], fields.shape[-1]
    u = np.asarray(fields, np.int64) & ((1 << bits) - 1)
    b = ((u[..., None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(*lead, n * bits)
    pad = words * port_bits - n * bits
    b = np.concatenate([b, np.zeros((*lead, pad), np.uint8)], axis=-1)
    return np.packbits(b, axis=-1, bitorder="little")


def _thresholds(acc: Accelerator, node: str, params: dict) -> np.ndarray:
    a = acc.node(node).engine().activation()
    return np.asarray(a.thresholds_of(np.asarray(params[node]["thresholds"], np.int64)), np.int64)


def op_rows(op: SharedOp, w: Optional[np.ndarray], thr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The op's weight rows (tiles, WROWS, 16 * GP * 8) and threshold rows (tiles, TROWS,
    16 * GP), in the fields' order of vg_shared.h."""
    gp, t, nt = op.gp, op.tiles, op.nt
    if op.kind == OP_GCONV:
        k, mh, g = op.k, op.mh, op.cin8
        w5 = np.asarray(w, np.int64).reshape(g, mh, 8, k * k)
        w5 = np.concatenate([w5, np.zeros((g, 16 - mh, 8, k * k), np.int64)], axis=1)  # lanes past MH
        wr = w5.reshape(t, gp, 16, 8, k * k).transpose(0, 4, 2, 1, 3).reshape(t, k * k, 16 * gp * 8)
        t3 = thr.reshape(g, mh, nt)
        t3 = np.concatenate([t3, np.zeros((g, 16 - mh, nt), np.int64)], axis=1)
        tr = t3.reshape(t, gp, 16, nt).transpose(0, 3, 1, 2).reshape(t, nt, gp * 16)
        return wr, tr
    if op.kind == OP_DENSE:
        sf, cin, cout = op.sf, op.cin8 * 8, op.cout8 * 8
        # rows past the layer's outputs (an odd cout8's last tile, an SE FC1's pad lanes) and
        # columns past its inputs (an SE FC2 reading FC1's pad lanes) zero
        w2 = np.zeros((t * 16, sf * gp * 8), np.int64)
        wl = np.asarray(w, np.int64)
        wl = wl.reshape(wl.shape[0], -1)
        if wl.shape[0] > cout or wl.shape[1] > cin:
            raise ProgramError(f"{op.layer}: weights {wl.shape[0]} x {wl.shape[1]} do not fit the op's "
                               f"{cout} x {cin}")
        w2[:wl.shape[0], :wl.shape[1]] = wl
        wr = w2.reshape(t, 16, sf, gp, 8).transpose(0, 2, 1, 3, 4).reshape(t, sf, 16 * gp * 8)
        t3 = np.zeros((t * 16, op.trows * gp), np.int64)
        t3[:thr.shape[0], :nt] = thr  # a pad lane's thresholds 0: its code is never used
        tr = t3.reshape(t, 16, op.trows, gp).transpose(0, 2, 3, 1).reshape(t, op.trows, gp * 16)
        return wr, tr
    t3 = np.concatenate([thr, np.zeros((thr.shape[0], op.trows * 2 - nt), np.int64)], axis=1)
    tr = t3.reshape(t, gp * 8, op.trows, 2).transpose(0, 2, 3, 1).reshape(t, op.trows, gp * 16)
    return np.zeros((t, 0, 16 * gp * 8), np.int64), tr


def pack_part(part: SharedPart, acc: Accelerator, params: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    """The engine's region of the parameter buffer (uint8), in the program's order."""
    per_op: list[tuple[Optional[np.ndarray], Optional[np.ndarray]]] = []
    for op, node in zip(part.ops, part.nodes):
        if node is None:
            per_op.append((None, None))
            continue
        if node not in params:
            raise ProgramError(f"node {node}: no weights/thresholds given")
        w = params[node].get("weights") if op.kind in (OP_GCONV, OP_DENSE) else None
        per_op.append((w, _thresholds(acc, node, params)))
    return pack_rows_of(part, per_op)


def pack_rows_of(part: SharedPart, per_op: list[tuple[Optional[np.ndarray], Optional[np.ndarray]]]) -> np.ndarray:
    """The rows of each op given its weights (PyTorch layout) and thresholds (C x NT), in the
    program's order (ops with neither, OP_IN and OP_OUT, have no rows)."""
    port = part.plan.port_bits
    ww, tw = wwords(part.gp, part.w_bits, port), twords(part.gp, part.acc_bits, port)
    chunks = []
    for op, (w, thr) in zip(part.ops, per_op):
        if thr is None:
            continue
        wr, tr = op_rows(op, w, np.asarray(thr, np.int64))
        wb = _pack_rows(wr, part.w_bits, ww, port)
        tb = _pack_rows(tr, part.acc_bits, tw, port)
        chunks.append(np.concatenate([wb.reshape(op.tiles, -1), tb.reshape(op.tiles, -1)], axis=1).reshape(-1))
    return np.concatenate(chunks).astype(np.uint8)


# ---- the engine's C-simulation -------------------------------------------------------------------
def _op_cpp(o: SharedOp) -> str:
    return (f"vg::make_op({o.kind}, {o.src}, {o.src2}, {o.dst}, {o.h}, {o.w}, {o.k}, {o.stride}, {o.pad}, "
            f"{o.cin8}, {o.cout8}, {o.mh}, {o.obias}, {o.gp}, {o.nt}, {o.gap})")


def config_text(part: SharedPart, name: str, define: bool = True) -> str:
    """The engine's program (a constexpr table, {name}_prog) and config struct ({name}_engine);
    define: with the table's out-of-class definition (C++14 wants one, in one translation
    unit: program_definition for a header included by several)."""
    p, t = part.plan, part.map_type
    ops = ",\n    ".join(_op_cpp(o) for o in part.ops)
    n = len(part.ops)
    signed = "true" if t.signed else "false"
    return f"""struct {name}_prog {{
  static constexpr vg::shared_op OPS_[{n}] = {{
    {ops}}};
}};
{program_definition(name) if define else ""}

struct {name}_engine {{
  static const int GP = {p.gp}, PE = {PE}, B = {2 * p.gp}, MAPS = {p.maps}, SF_MAX = {max(o.wrows for o in p.ops)};
  static const int GAP = {max(o.gap for o in p.ops)}, NT = {part.nt}, MAC_PACK = {part.mac_pack()};
  static const long long SLOT_CHUNKS = {p.slot_chunks};
  static const int IN_BITS = {t.bits}, W_BITS = {part.w_bits}, ACC_BITS = {part.acc_bits}, THR_BITS = {part.acc_bits};
  static const bool IN_SIGNED = {signed};
  typedef vg::int_t<{t.bits}, {signed}>::type map_t;
  typedef vg::int_t<{part.w_bits}, true>::type w_t;
  typedef vg::thresholds<{part.nt}, 0, vg::acc_t<{part.acc_bits}>::type> act;
  static const int OPS = {n};
  static constexpr const vg::shared_op* PROG = {name}_prog::OPS_;
  static const long long ITERS = vg::program_iters({name}_prog::OPS_, {n});
}};
"""


def program_definition(name: str) -> str:
    return f"constexpr vg::shared_op {name}_prog::OPS_[];"


SHARED_FN = "shared_part"


def _maps_binding(part: SharedPart) -> str:
    """The map slots' storage where the description binds it (version 9: uram; each of the
    2 GP banks one memory). URAM's read latency is within the loop's assumed pipeline depth
    GAP: a claim only the synthesis report confirms."""
    if part.maps_impl == "bram":
        return ""
    return f"\n#pragma HLS BIND_STORAGE variable = maps type = ram_2p impl = {part.maps_impl}"


def part_function(acc: Accelerator, stage: int) -> str:
    """network.h's shared part: its config and one function, a DATAFLOW region of the edge
    converters (the part's streams to and from the engine's GP * 8-element words and map
    type), the DDR reader and the engine; counted as processes 2 and 3 (edges), 1 (reader) and
    0 (engine) of stage `stage` (the first shared node's index). The FIFOs between the
    converters and the engine hold a frame, so that the converters overlap the engine's
    frame (hls/shared_cost.py's timing model)."""
    from hls.engines import word_type

    part = spec_part(acc)
    s_in, s_out = acc.stream(part.in_stream), acc.stream(part.out_stream)
    p = part.plan
    n = p.gp * 8
    ti, to = IntType.parse(s_in.dtype).cpp(), IntType.parse(s_out.dtype).cpp()
    word = f"vg::ddr_word<{p.port_bits}>::type"
    return f"""// the shared block engine (vg_shared.h): stages {', '.join(p.stages)}, GP = {p.gp}, {len(part.ops)} ops
// (hls/shared_part.py), its rows from the parameter buffer's shared region
{config_text(part, SHARED_FN)}
inline void {SHARED_FN}(hls::stream<{word_type(s_in.n, s_in.dtype)} >& in, hls::stream<{word_type(s_out.n, s_out.dtype)} >& out,
                        const {word}* ddr) {{
#pragma HLS DATAFLOW
  typedef vg::shared_types<{SHARED_FN}_engine> Ty;
  static Ty::chunk maps[{2 * p.gp}][Ty::ROWS];{_maps_binding(part)}
  hls::stream<Ty::io_word> to_engine, from_engine;
  hls::stream<Ty::wrow> wts;
  hls::stream<Ty::trow> thrs;
#pragma HLS STREAM variable = to_engine depth = {s_in.words * s_in.n // n}
#pragma HLS STREAM variable = from_engine depth = {s_out.words * s_out.n // n}
#pragma HLS STREAM variable = wts depth = {2 * max(o.wrows for o in p.ops)}
#pragma HLS STREAM variable = thrs depth = {2 * part.nt}
  vg::width_convert<{s_in.words * s_in.n}, {s_in.n}, {n}, {ti}, {SHARED_FN}_engine::map_t, 2>(in, to_engine);
  vg::shared_reader<{SHARED_FN}_engine, {p.port_bits}>(ddr, wts, thrs);
  vg::shared_block<{SHARED_FN}_engine>(maps, wts, thrs, to_engine, from_engine);
  vg::width_convert<{s_out.words * s_out.n}, {n}, {s_out.n}, {SHARED_FN}_engine::map_t, {to}, 3>(from_engine, out);
}}
"""
