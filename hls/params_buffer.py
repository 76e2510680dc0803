"""The parameter buffer: the weights of every node that reads them from DDR (memory "ddr":
each frame) or loads them into its URAM cache (memory "uram" on an MVAU: once, when the top's
load flag is set), in one buffer the host allocates and the accelerator's AXI4 masters read
(vg_ddr.h).

Layout (the one definition; hls/README.md, "Parameter buffer"):
- the nodes that read it in description order, each at an offset aligned to ALIGN bytes (a burst never
  crosses a 4 KiB boundary, AXI's rule, and each node's first burst starts on one);
- a node's region holds its ROWS = G*NF*SF weight rows once (the reader walks them once per
  input vector), one word a row: of its own master's width for a DDR node
  (MVAU.ddr_port_bits: a power of two, at least 32 bits), of the cache loader's for a cache
  (cache_port_bits: the widest cache row's port); word r = row r of the engine's weight
  layout (hls/layout.py: lane pe's element s at bits (pe*SIMD + s)*w_bits, two's complement,
  unused high bits zero);
- words little-endian, as AXI lays them out.

Masters (`masters`): a DDR node has its own, aimed at its region; all caches share one, the
loader (vg_ddr.h fill_cache), aimed at the first cache's region and reading every cache's
region from there in a loading frame.

The shared part (description version 7, hls/shared_part.py): its region, named "shared",
comes last: the shared engine's rows (hls/shared_part.py pack_part; words of the board's HP
port), read each frame by the part's own master (vg_shared.h shared_reader).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

import numpy as np

from hls.accel import Accelerator, Node
from hls.boards import get_board

ALIGN = 4096
FILE = "params.bin"
SHARED_REGION = "shared"  # the shared engine's region and master (not a node name)


@dataclass(frozen=True)
class Region:
    node: str
    offset: int  # bytes from the buffer's start
    rows: int
    port_bits: int

    @property
    def nbytes(self) -> int:
        return self.rows * self.port_bits // 8


def reads_buffer(n: Node) -> bool:
    """The node reads the buffer through an AXI4 master: its weights streamed each frame
    (memory "ddr") or loaded once into a URAM cache (memory "uram" on an MVAU)."""
    return n.engine().reads_buffer(n.memory)


def loads_cache(n: Node) -> bool:
    """The node's weights are a URAM cache, filled in a frame started with the load flag."""
    return n.engine().loads_cache(n.memory)


def buffer_nodes(acc: Accelerator) -> list[Node]:
    """The nodes that read the buffer, in description order (their regions' order)."""
    return [n for n in acc.nodes if reads_buffer(n)]


def cache_port_bits(acc: Accelerator) -> int:
    """The cache loader's word: the widest port among the caches' rows (0: no cache)."""
    return max((n.engine().ddr_port_bits() for n in acc.nodes if loads_cache(n)), default=0)


def region_port_bits(acc: Accelerator, n: Node) -> int:
    """Bits of a word of node n's region: the loader's for a cache, else the node's master's."""
    return cache_port_bits(acc) if loads_cache(n) else n.engine().ddr_port_bits()


def regions(acc: Accelerator) -> list[Region]:
    out, off = [], 0
    for n in buffer_nodes(acc):
        r = Region(n.name, off, n.engine().weight_rows(), region_port_bits(acc, n))
        out.append(r)
        off = -(-(off + r.nbytes) // ALIGN) * ALIGN
    if acc.shared is not None:  # words of the HP port (the program's rows, checked on reading)
        out.append(Region(SHARED_REGION, off, acc.shared["words"], get_board(acc.board).hp_port_bits))
    return out


@dataclass(frozen=True)
class Master:
    """An AXI4 read master of the accelerator: a DDR node's own (`node`, its region each frame)
    or the URAM caches' loader (node None: every cache's region, in a loading frame). Its
    pointer aims at `offset` bytes into the buffer; it reads `nbytes` from there."""

    node: Optional[str]
    offset: int
    nbytes: int
    port_bits: int
    regions: tuple[Region, ...]

    @property
    def loads_caches(self) -> bool:
        return self.node is None

    @property
    def words(self) -> int:
        return self.nbytes * 8 // self.port_bits

    def first_word(self, r: Region) -> int:
        """The word of this master's span where region r starts."""
        return (r.offset - self.offset) * 8 // self.port_bits


def masters(acc: Accelerator) -> list[Master]:
    """The design's masters in argument order (the synthesis top's pointers, the control
    registers, the block design's m_axi_gmem<i>): the DDR nodes' in description order, then
    the cache loader when the design has caches."""
    rs = {r.node: r for r in regions(acc)}
    out = [Master(n.name, rs[n.name].offset, rs[n.name].nbytes, rs[n.name].port_bits, (rs[n.name],))
           for n in buffer_nodes(acc) if not loads_cache(n)]
    caches = tuple(rs[n.name] for n in buffer_nodes(acc) if loads_cache(n))
    if caches:
        start = caches[0].offset
        out.append(Master(None, start, caches[-1].offset + caches[-1].nbytes - start, caches[0].port_bits, caches))
    if SHARED_REGION in rs:
        r = rs[SHARED_REGION]
        out.append(Master(SHARED_REGION, r.offset, r.nbytes, r.port_bits, (r,)))
    return out


def cache_master(acc: Accelerator) -> Optional[Master]:
    """The URAM caches' loader (None: the design has no cache)."""
    return next((m for m in masters(acc) if m.loads_caches), None)


def size(acc: Accelerator) -> int:
    """Bytes of the buffer (0: the design reads nothing from DDR)."""
    rs = regions(acc)
    return rs[-1].offset + rs[-1].nbytes if rs else 0


def pack_rows(rows: np.ndarray, w_bits: int, port_bits: int) -> bytes:
    """ROWS x N weight codes -> ROWS words of port_bits, element i at bits [i*w_bits, ...)."""
    rows = np.asarray(rows, dtype=np.int64)
    n_rows, n = rows.shape
    if n * w_bits > port_bits:
        raise ValueError(f"a row of {n} x {w_bits} bits does not fit a {port_bits}-bit word")
    codes = rows & ((1 << w_bits) - 1)  # two's complement fields
    bits = ((codes[:, :, None] >> np.arange(w_bits)) & 1).astype(np.uint8).reshape(n_rows, n * w_bits)
    word = np.zeros((n_rows, port_bits), dtype=np.uint8)
    word[:, :n * w_bits] = bits
    return np.packbits(word, axis=1, bitorder="little").tobytes()


def node_words(acc: Accelerator, n: Node, params: dict[str, np.ndarray]) -> bytes:
    """A node's region contents from its checked parameters (PyTorch layout)."""
    e = n.engine()
    w = e.layout(params)["w"]  # [PE][ROWS][SIMD]
    rows = np.transpose(w, (1, 0, 2)).reshape(e.weight_rows(), e.pe * e.simd)
    return pack_rows(rows, e.w_bits, region_port_bits(acc, n))


def pack(acc: Accelerator, params: dict[str, dict[str, np.ndarray]]) -> bytes:
    """The whole buffer, padding zero."""
    buf = bytearray(size(acc))
    for r in regions(acc):
        buf[r.offset:r.offset + r.nbytes] = region_words(acc, r, params)
    return bytes(buf)


def region_words(acc: Accelerator, r: Region, params: dict[str, dict[str, np.ndarray]]) -> bytes:
    """A region's contents: a node's rows, or the shared engine's."""
    if r.node == SHARED_REGION:
        from hls.shared_part import pack_part, spec_part

        return pack_part(spec_part(acc), acc, params).tobytes()
    return node_words(acc, acc.node(r.node), params[r.node])


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ParamsBufferError(ValueError):
    """A parameter buffer that does not belong to its description."""


def describe(data: bytes) -> dict:
    """The description's params_buffer entry for `data`."""
    return {"file": FILE, "bytes": len(data), "sha256": digest(data)}


def load(acc: Accelerator) -> bytes:
    """The build's buffer, checked against its description before any frame: refused when it
    is missing, of another size than the DDR nodes need, or with another checksum."""
    want = size(acc)
    if want == 0:
        return b""
    pb = acc.params_buffer
    if pb is None:
        raise ParamsBufferError("the design reads weights from DDR (memory 'ddr' or a URAM cache) but its description "
                                "names no parameter buffer (params_buffer)")
    if acc.root is None:
        raise ParamsBufferError("the description has no build folder to read its parameter buffer from")
    path = acc.root / pb["file"]
    if not path.is_file():
        raise ParamsBufferError(f"{path}: the parameter buffer is missing")
    data = path.read_bytes()
    if len(data) != want or pb["bytes"] != want:
        raise ParamsBufferError(f"{path}: {len(data)} bytes (the description says {pb['bytes']}); its DDR "
                                f"nodes need {want}")
    if digest(data) != pb["sha256"]:
        raise ParamsBufferError(f"{path}: checksum differs from the description's: the buffer does not "
                                f"belong to this design")
    return data
