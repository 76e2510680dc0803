"""The accelerator description: the one versioned JSON format that the flow writes and the
simulator, the golden model, the C-sim and the host read (schema `vargnet-accelerator`).

An accelerator is a dataflow graph of engine nodes joined by streams:

    {
      "schema": "vargnet-accelerator", "version": 2,
      "name": ..., "board": "zcu104", "clock_mhz": 200.0,
      "arch": {...model/arch.py description...}, "quant": {...QuantConfig...},
      "input":  {"stream": "in", "shape": [H, W, C], "dtype": "uint8", "scale": 1/255,
                 "packing": {...}},
      "output": {"stream": "out", "channels": C, "dtype": "int24", "scale": "output_scale.npy",
                 "tail": "tail.json", "scoring": "scoring.npz" (optional), "packing": {...}},
      "nodes":   [{"name", "kind", "layer", "inputs", "outputs", "params", "weights",
                   "thresholds", "memory"}, ...],          # in dataflow (topological) order
      "streams": [{"name", "producer", "consumer", "n", "dtype", "words", "depth"}, ...],
      "params_buffer": {"file": "params.bin", "bytes": N, "sha256": ...} or null  # version 2
    }

Version 2: a node's `memory` may be "ddr" (an MVAU that reads its weights from DDR each
frame, vg_ddr.h); their weights are also packed into the parameter buffer (`params_buffer`,
layout in hls/params_buffer.py), which the host allocates and fills before the first frame.
Version 3 (readers take 1 to 3): an MVAU's `memory` may be "uram": its weights are a URAM
cache (vg_ddr.h mvau_cached) that its master fills from its region of the parameter buffer in
a frame started with the top's load flag set (the host sets it for the first frame); a
version-2 reader refused weights in URAM. Version 4: the caches share one loader. Version 5:
an SE scale's frame waits for its gates in its input FIFO (the stream's `depth` holds it),
not in a ping-pong buffer of the engine; its `memory` binds nothing. Version 6: an MVAU's
params carry `pair` ("pe" or "simd"): with `pack` 2, which two products share a DSP48E2
(vg_mvau.h MAC_PAIR); earlier descriptions have only "pe" pairs, the default. Version 7: a
part of the network may be run by the shared block engine (vg_shared.h): `shared` names its
stages, its array size GP and assumed pipeline depth GAP, the streams carrying its input and
output maps, and the program's op count, cycles and rows' words as checks; the nodes between
those streams have `memory` "shared" (their weights and thresholds live in the parameter
buffer's shared region, packed by hls/shared_part.py, and no engine of their own is built).
Readers recompute the program from the description and refuse a mismatch. Version 8: a
stream's `impl` may be "uram" (absent means "auto"): its FIFO is bound to URAM
(`bind_storage type = fifo impl = uram`); hls/fifo_packing.py gives such a stream words of
several elements, between two width converters, so that a deep narrow FIFO fills URAM's
72-bit words. Version 9: the shared part's `maps_impl` may be "uram" (absent means "bram"):
the engine's map slots are bound to URAM (`bind_storage type = ram_2p impl = uram`); they
need no initial contents, the engine writes every slot it reads within the frame.

Node kinds and their params: a node's `kind` names a registered engine class of hls/engines/
and its `params` are that class's fields (datatypes as "int4"/"uint8" strings): swg (SWG),
mvau (MVAU), threshold (Threshold), add (Add), pool (Pool), se_scale (SEScale), duplicate
(Duplicate), width_convert (WidthConvert); an mvau's `pack` (2: two PE lanes per DSP48E2
multiplier, vg_mvau.h) may be absent in older files and then means 1. A requantizing node's
`requant` (0: thresholds; 1 or 2: an integer requantization of that many pieces), `rq_shift`
and `rq_bits` (hls/engines/activation.py) may be absent and then mean thresholds. `weights`
and `thresholds` name .npy files in the build folder: weights in PyTorch layout (cout x
cin/groups x k x k, or cout x cin for an FC) as integer codes; `thresholds` is the node's
activation table: C x NT sorted thresholds, or with `requant` 1 the C x 2 rows (M, B) and
with 2 the C x 6 rows (M1, B1, M2, B2, J, K) (see hls/layout.py for the engine's memory
layout). A stream carries `words` words of `n` elements of `dtype` per frame;
`producer`/`consumer` "host" marks the DMA ends. `depth` is the FIFO depth in words (the
simulator's recommendation, written into the generated HLS).

Packing at the DMA ends (the host and the generated top both follow it):
- input: pixels in row-major order, one pixel per 32-bit beat, channel c in bits [8c, 8c+8)
  as uint8, unused high bits zero;
- output: one signed 32-bit beat per output channel, in channel order (the FC accumulators).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from hls.engines import TYPE_FIELDS, Engine, EngineError, IntType, engine_class, kinds

SCHEMA = "vargnet-accelerator"
# 2: nodes may read their weights from DDR (memory "ddr", params_buffer); 3: an MVAU's memory
# may be "uram", a cache the parameter buffer fills; 4: the caches share one loader, their
# regions hold words of its width (hls/params_buffer.py); 5: an SE scale holds no frame
# buffer, the frame waits for its gates in the FIFO in front of it (vg_se.h), whose depth the
# description carries. A version-3 description is read when it has no cache (then nothing
# differs); with one, its buffer was laid out for a master per cache and is refused. A
# description before version 5 with an SE block is refused: its FIFO in front of se_scale was
# sized for the old buffer and would deadlock today's engine. 6: an MVAU's `pair` says which
# two products share a DSP with pack 2 (PE lanes, as before, or SIMD elements of one lane).
# 7: a shared part (`shared`, nodes with memory "shared": hls/shared_part.py). 8: a stream's
# `impl` "uram" binds its FIFO to URAM (hls/fifo_packing.py packs a narrow one into words).
# 9: the shared part's map slots may be bound to URAM (`shared.maps_impl`, hls/estimate.py
# place_shared_maps).
VERSION = 7  # written when nothing of versions 8-9 is used (hls/fifo_packing.py, place_shared_maps raise it)
READS = (1, 2, 3, 4, 5, 6, 7, 8, 9)
HOST = "host"
INPUT_PACKING = {"beat_bits": 32, "layout": "row-major pixels, one pixel per beat, channel c "
                                            "in bits [8c, 8c+8) as uint8"}
OUTPUT_PACKING = {"beat_bits": 32, "layout": "one int32 accumulator per output channel, in order"}


class DescriptionError(ValueError):
    """An accelerator description that is inconsistent; the message names the problem."""


@dataclass
class Stream:
    name: str
    producer: str
    consumer: str
    n: int
    dtype: str
    words: int
    depth: int = 2
    impl: str = "auto"  # the FIFO's storage: auto (the tool's choice), or uram (version 8)

    @property
    def width_bits(self) -> int:
        return self.n * IntType.parse(self.dtype).bits


@dataclass
class Node:
    name: str
    kind: str
    layer: str
    inputs: list[str]
    outputs: list[str]
    params: dict[str, Any]
    weights: Optional[str] = None
    thresholds: Optional[str] = None
    memory: str = "auto"  # weight/frame memory style: auto | lutram | bram | uram | ddr (weights read from DDR)
    mac: str = "auto"  # MAC implementation of an mvau: auto | lut | dsp

    def engine(self) -> Engine:
        """The instance of the node's engine kind (hls/engines/; validates the parameters)."""
        if not isinstance(self.params, dict):
            raise DescriptionError("params must be an object")
        for k, v in self.params.items():  # sizes are integers (true/false and 7.0 are not)
            if k not in TYPE_FIELDS and not (isinstance(v, int) and not isinstance(v, bool)):
                raise DescriptionError(f"params.{k} = {v!r} must be an integer")
            if k in TYPE_FIELDS and v is not None and not isinstance(v, str):
                raise DescriptionError(f"params.{k} = {v!r} must be a datatype string such as 'int4'")
        try:
            cls = engine_class(self.kind)
        except EngineError as e:
            raise DescriptionError(str(e)) from None
        return cls.from_params(self.params)


def engine_params(e: Engine) -> dict[str, Any]:
    """An engine instance as JSON-able params (inverse of Node.engine)."""
    return e.to_params()


@dataclass
class Accelerator:
    name: str
    arch: dict[str, Any]
    quant: Optional[dict[str, Any]]
    board: str
    clock_mhz: float
    input: dict[str, Any]
    output: dict[str, Any]
    nodes: list[Node]
    streams: list[Stream]
    version: int = VERSION
    root: Optional[Path] = field(default=None, compare=False)  # build folder (for .npy files)
    # the DDR nodes' weights as the host allocates them (hls/params_buffer.py): {"file",
    # "bytes", "sha256"}, written with the parameters; None where no node reads DDR
    params_buffer: Optional[dict[str, Any]] = None
    # the part run by the shared block engine (hls/shared_part.py SharedSpec fields), or None
    shared: Optional[dict[str, Any]] = None

    # ---- lookup ---------------------------------------------------------------------------
    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise DescriptionError(f"no node named {name!r}")

    def stream(self, name: str) -> Stream:
        for s in self.streams:
            if s.name == name:
                return s
        raise DescriptionError(f"no stream named {name!r}")

    def streams_by_name(self) -> dict[str, Stream]:
        return {s.name: s for s in self.streams}

    def window_of(self, node: Node) -> Optional[Node]:
        """The sliding-window node that feeds an engine node (through width converters), or
        None when the engine reads pixels or vectors directly."""
        producer = {o: n for n in self.nodes for o in n.outputs}
        src = producer.get(node.inputs[0])
        while src is not None and src.kind == "width_convert":
            src = producer.get(src.inputs[0])
        return src if src is not None and src.kind == "swg" else None

    def window_engine(self, node: Node) -> Optional[Engine]:
        """The engine of window_of(node), or None."""
        w = self.window_of(node)
        return w.engine() if w is not None else None

    # ---- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "version": self.version, "name": self.name, "board": self.board,
            "clock_mhz": self.clock_mhz, "arch": self.arch, "quant": self.quant,
            "input": self.input, "output": self.output,
            "nodes": [asdict(n) for n in self.nodes],
            "streams": [_stream_dict(s) for s in self.streams],
            "params_buffer": self.params_buffer,
            "shared": self.shared,
        }

    def save(self, path: Union[str, Path]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json.tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(self.to_dict(), f, indent=1)
        os.replace(tmp, path)
        return path

    @staticmethod
    def from_dict(d: dict[str, Any], root: Optional[Path] = None) -> "Accelerator":
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise DescriptionError(f"not an accelerator description (schema {SCHEMA!r} missing)")
        if d.get("version") not in READS:
            raise DescriptionError(f"accelerator description version {d.get('version')} is not "
                                   f"supported (this code reads versions {', '.join(map(str, READS))})")
        check_fields(d)
        if d["version"] < 5 and any(n.get("kind") == "se_scale" for n in d["nodes"]):
            raise DescriptionError(f"accelerator description version {d['version']} has SE blocks whose frame "
                                   f"buffer was inside se_scale; this code holds the frame in the FIFO in front "
                                   f"of it, which that description's depths are too shallow for (version 5): "
                                   f"rebuild the design with python -m flow build")
        try:
            a = Accelerator(
                name=d["name"], arch=d["arch"], quant=d["quant"], board=d["board"],
                clock_mhz=float(d["clock_mhz"]), input=d["input"], output=d["output"],
                nodes=[Node(**n) for n in d["nodes"]], streams=[Stream(**s) for s in d["streams"]],
                root=root, params_buffer=d.get("params_buffer"), shared=d.get("shared"),
                version=max(VERSION, d["version"]),  # what it uses of a later version stays declared
            )
        except (KeyError, TypeError) as e:
            raise DescriptionError(f"malformed accelerator description: {e}") from None
        validate(a)
        if d["version"] < 4 and any(n.engine().loads_cache(n.memory) for n in a.nodes):
            raise DescriptionError(f"accelerator description version {d['version']} has URAM weight caches "
                                   f"laid out for a master per cache; this code reads them from one loader "
                                   f"(version 4): rebuild the design with python -m flow build")
        return a

    @staticmethod
    def load(path: Union[str, Path]) -> "Accelerator":
        path = Path(path)
        if path.is_dir():
            path = path / "accelerator.json"
        if not path.is_file():
            raise DescriptionError(f"{path}: no accelerator description there")
        try:
            d = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DescriptionError(f"{path}: not valid JSON ({e})") from None
        try:
            return Accelerator.from_dict(d, root=path.parent)
        except DescriptionError as e:
            raise DescriptionError(f"{path}: {e}") from None


def _stream_dict(s: Stream) -> dict[str, Any]:
    """A stream's entry; `impl` only where it binds storage (version 8), so that descriptions
    without URAM FIFOs keep their earlier form."""
    d = asdict(s)
    if d["impl"] == "auto":
        del d["impl"]
    return d


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _field(cond: bool, where: str, v: Any, want: str) -> None:
    if not cond:
        raise DescriptionError(f"description field {where} = {v!r}: must be {want}")


def check_fields(d: dict[str, Any]) -> None:
    """Types and ranges of every field of a description dict, each failure naming the field."""
    for k in ("name", "board"):
        _field(isinstance(d.get(k), str) and bool(d.get(k)), k, d.get(k), "a non-empty string")
    c = d.get("clock_mhz")
    _field(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) and c > 0,
           "clock_mhz", c, "a finite number > 0 (MHz)")
    for k in ("arch",):
        _field(isinstance(d.get(k), dict), k, d.get(k), "an object")
    _field(d.get("quant") is None or isinstance(d.get("quant"), dict), "quant", d.get("quant"),
           "an object or null")
    inp, out = d.get("input"), d.get("output")
    _field(isinstance(inp, dict), "input", inp, "an object")
    _field(isinstance(out, dict), "output", out, "an object")
    shape = inp.get("shape")
    _field(isinstance(shape, list) and len(shape) == 3 and all(_is_int(v) and v >= 1 for v in shape),
           "input.shape", shape, "[H, W, C], three integers >= 1")
    for where, obj in (("input", inp), ("output", out)):
        _field(isinstance(obj.get("stream"), str), f"{where}.stream", obj.get("stream"), "a stream name")
        try:
            IntType.parse(obj.get("dtype") if isinstance(obj.get("dtype"), str) else "")
        except ValueError:
            _field(False, f"{where}.dtype", obj.get("dtype"), "a datatype such as 'uint8'")
    _field(_is_int(out.get("channels")) and out["channels"] >= 1, "output.channels",
           out.get("channels"), "an integer >= 1")
    for k in ("scale", "tail", "scoring"):
        v = out.get(k)
        if k != "scale" or isinstance(v, str):
            _field(v is None or isinstance(v, str), f"output.{k}", v, "a file name or null")
    for k in ("nodes", "streams"):
        _field(isinstance(d.get(k), list) and all(isinstance(x, dict) for x in d[k]), k,
               type(d.get(k)).__name__, "a list of objects")
    for i, n in enumerate(d["nodes"]):
        where = f"nodes[{i}] ({n.get('name')})"
        for k in ("name", "kind", "layer"):
            _field(isinstance(n.get(k), str), f"{where}.{k}", n.get(k), "a string")
        for k in ("inputs", "outputs"):
            _field(isinstance(n.get(k), list) and all(isinstance(x, str) for x in n[k]),
                   f"{where}.{k}", n.get(k), "a list of stream names")
        for k in ("weights", "thresholds"):
            _field(n.get(k) is None or isinstance(n.get(k), str), f"{where}.{k}", n.get(k),
                   "a file name or null")
        _field(n.get("memory", "auto") in MEMORY_STYLES, f"{where}.memory", n.get("memory"),
               f"one of {', '.join(MEMORY_STYLES)}")
        _field(n.get("mac", "auto") in MAC_STYLES, f"{where}.mac", n.get("mac"),
               f"one of {', '.join(MAC_STYLES)}")
    _check_shared_field(d)
    pb = d.get("params_buffer")
    _field(pb is None or (isinstance(pb, dict) and isinstance(pb.get("file"), str)
                          and _is_int(pb.get("bytes")) and pb["bytes"] >= 0 and isinstance(pb.get("sha256"), str)),
           "params_buffer", pb, 'null or {"file": name, "bytes": size, "sha256": hex digest}')
    _check_stream_fields(d)


def _check_stream_fields(d: dict[str, Any]) -> None:
    for i, st in enumerate(d["streams"]):
        where = f"streams[{i}] ({st.get('name')})"
        for k in ("name", "producer", "consumer", "dtype"):
            _field(isinstance(st.get(k), str), f"{where}.{k}", st.get(k), "a string")
        for k in ("n", "words", "depth"):
            v = st.get(k, 2 if k == "depth" else None)
            _field(_is_int(v) and v >= 1, f"{where}.{k}", v, "an integer >= 1")
        impl = st.get("impl", "auto")
        _field(impl in FIFO_IMPLS, f"{where}.impl", impl, f"one of {', '.join(FIFO_IMPLS)}")
        if impl != "auto" and d.get("version", 0) < 8:
            _field(False, f"{where}.impl", impl, "absent before version 8")


def _check_shared_field(d: dict[str, Any]) -> None:
    sh = d.get("shared")
    _field(sh is None or isinstance(sh, dict), "shared", sh, "null or an object (the shared part)")
    if sh is not None and d.get("version", 0) < 7:
        _field(False, "shared", sh, "absent before version 7")
    if isinstance(sh, dict) and "maps_impl" in sh:
        from hls.shared_part import MAP_IMPLS

        _field(sh["maps_impl"] in MAP_IMPLS, "shared.maps_impl", sh["maps_impl"], f"one of {', '.join(MAP_IMPLS)}")
        if d.get("version", 0) < 9:
            _field(False, "shared.maps_impl", sh["maps_impl"], "absent before version 9")


MEMORY_STYLES = ("auto", "lutram", "bram", "uram", "ddr", "shared")
FIFO_IMPLS = ("auto", "uram")
MAC_STYLES = ("auto", "lut", "dsp")


def validate(a: Accelerator) -> None:
    """Connectivity, stream widths and datatypes, engine legality; raises DescriptionError."""
    streams = a.streams_by_name()
    if len(streams) != len(a.streams):
        raise DescriptionError("duplicate stream names")
    names = [n.name for n in a.nodes]
    if len(set(names)) != len(names):
        raise DescriptionError("duplicate node names")
    produced: set[str] = set()
    if a.input["stream"] not in streams or streams[a.input["stream"]].producer != HOST:
        raise DescriptionError(f"input stream {a.input['stream']!r} must exist and come from the host")
    produced.add(a.input["stream"])
    for n in a.nodes:
        if n.kind not in kinds():
            raise DescriptionError(f"node {n.name}: unknown kind {n.kind!r} (known: {', '.join(kinds())})")
        try:
            e = n.engine()
        except (TypeError, ValueError) as ex:
            raise DescriptionError(f"node {n.name} ({n.kind}): {ex}") from None
        problem = e.memory_problem(n.memory)
        if problem:
            raise DescriptionError(f"node {n.name} ({n.kind}): {problem}")
        for s in n.inputs:
            if s not in streams:
                raise DescriptionError(f"node {n.name}: input stream {s!r} does not exist")
            if s not in produced:
                raise DescriptionError(f"node {n.name}: input stream {s!r} is not produced by an "
                                       f"earlier node (the layers do not connect)")
            if streams[s].consumer != n.name:
                raise DescriptionError(f"stream {s} is consumed by {streams[s].consumer}, not {n.name}")
        for s in n.outputs:
            if s not in streams or streams[s].producer != n.name:
                raise DescriptionError(f"node {n.name}: output stream {s!r} missing or produced elsewhere")
            produced.add(s)
        want_in, want_out = port_formats(n, e)
        for s, (nn, dt, words) in zip(n.inputs, want_in):
            st = streams[s]
            if (st.n, st.dtype, st.words) != (nn, dt, words):
                raise DescriptionError(
                    f"stream {s} into {n.name}: carries {st.words} words of {st.n} x {st.dtype}, "
                    f"the node reads {words} words of {nn} x {dt} (mismatched stream widths)")
        for s, (nn, dt, words) in zip(n.outputs, want_out):
            st = streams[s]
            if (st.n, st.dtype, st.words) != (nn, dt, words):
                raise DescriptionError(
                    f"stream {s} out of {n.name}: declared {st.words} words of {st.n} x "
                    f"{st.dtype}, the node writes {words} words of {nn} x {dt}")
        if len(n.inputs) != len(want_in) or len(n.outputs) != len(want_out):
            raise DescriptionError(f"node {n.name}: {len(n.inputs)} inputs / {len(n.outputs)} "
                                   f"outputs, a {n.kind} has {len(want_in)} / {len(want_out)}")
    out = a.output["stream"]
    if out not in streams or streams[out].consumer != HOST or out not in produced:
        raise DescriptionError(f"output stream {out!r} must be produced by a node and go to the host")
    unread = [s.name for s in a.streams if s.consumer != HOST and s.consumer not in names]
    if unread:
        raise DescriptionError(f"streams without a consumer node: {unread}")
    for s in a.streams:
        if s.depth < 1:
            raise DescriptionError(f"stream {s.name}: FIFO depth {s.depth} < 1")
    _validate_shared(a)


def _validate_shared(a: Accelerator) -> None:
    """The shared part (version 7) against the description: hls/shared_part.py check_shared."""
    if a.shared is None and not any(n.memory == "shared" for n in a.nodes):
        return
    from hls.shared_part import SharedPartError, check_shared

    try:
        check_shared(a)
    except SharedPartError as e:
        raise DescriptionError(f"shared part: {e}") from None


def port_formats(n: Node, e) -> tuple[list[tuple[int, str, int]], list[tuple[int, str, int]]]:
    """(n, dtype, words per frame) of each input and output port of a node (the engine's)."""
    return e.ports()
