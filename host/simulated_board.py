"""A simulated Zynq UltraScale+ board behind pynq's own `Device` interface, so that the board
driver (host/backends.py: PynqBackend) runs unchanged, through the real pynq 4.0.0 package
(Overlay, its .hwh parser and driver binding, `pynq.allocate`, MMIO, the AXI DMA driver
`pynq.lib.dma.DMA`, the PL clock code), on a machine without a board.

What is simulated, and how faithfully:
- PS DDR with a CPU cache: `pynq.allocate` returns non-coherent buffers whose host view and
  DDR contents are separate; only `flush()` makes host writes visible to the DMA and only
  `invalidate()` makes DMA writes visible to the host, as on the board.
- PS clock registers (CRL_APB/CRF_APB, IOPLL at 1500 MHz): pynq's Overlay download programs
  the PL clock divisors from the handoff; `pl_clock_mhz` reads them back.
- AXI DMA (PG021, simple mode, no interrupts): the register map pynq's driver uses (DMACR,
  DMASR with halted/idle/error bits, source/destination address, LENGTH; S2MM LENGTH holds
  the bytes received when a packet ends with TLAST), decode errors outside allocated DDR,
  internal errors when a packet overruns the receive buffer.
- The accelerator (ap_ctrl_hs on s_axi_control: ap_start, ap_done clear-on-read, ap_idle,
  ap_ready, auto-restart): consumes one frame of input beats per start, returns one output
  packet with TLAST; it computes with the whole-network C-simulation of the generated HLS
  (or the golden model) of the design the bitstream was "built" from. Without ap_start the
  input stream stalls and the DMA never completes, as on hardware.
- The accelerator's AXI4 read masters, for nodes that read their weights from DDR: each
  frame, every master reads its region of the parameter buffer from where its pointer
  register (s_axi_control, hls/blockdesign.py) aims, out of DDR as flushed; an address
  outside allocated DDR is the interconnect's decode error (DECERR), which stops the
  simulation with a message (the HLS master would compute with whatever came back). A node
  whose weights are a URAM cache reads its region only in a frame started with the load
  flag register set; other frames compute with what the cache holds (zeros before the first
  load: URAM powers up zero).
- Transfers complete when started (no timing model here: board timing comes from a board).

The bitstream (`write_simulated_overlay`) is a .bit file with a real Xilinx header (pynq's
parser reads it) whose payload names the design folder and its hash, plus the .hwh of the
block design (host/hwh.py) and the accelerator description.

Only pynq's public Device interface is implemented (capabilities REGISTER_RW and memory
allocation); the class defines no `_probe_`, so it never appears in `pynq.Device.devices`
and is used only where passed explicitly (`device=`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import time
from collections import deque
from pathlib import Path
from typing import Optional

import numpy as np

from hls.params_buffer import SHARED_REGION

import pynq
from pynq.buffer import PynqBuffer

from hls import blockdesign as bd
from hls.accel import Accelerator as Description
from hls.boards import BOARDS
from host.hwh import hwh_text

MAGIC = b"VARGNET-SIMULATED-BITSTREAM\n"
R = bd.DMA_REGS
CRL_APB, CRF_APB, CLK_WINDOW = 0xFF5E0000, 0xFD1A0000, 0x100
DDR_BASE, PAGE = 0x1000_0000, 0x1000


class SimulatedBoardError(RuntimeError):
    pass


def design_hash(design: Path) -> str:
    """sha256 over the description and the parameter files beside it."""
    h = hashlib.sha256()
    root = Path(design)
    for f in sorted([*root.glob("*.json"), *root.rglob("*.npy")]):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _bit_field(tag: int, text: str) -> bytes:
    data = text.encode("ascii") + b"\0"
    return bytes([tag]) + struct.pack(">h", len(data)) + data


def write_simulated_overlay(design: Path, out: Path) -> Path:
    """vargnet.bit (Xilinx .bit header + a payload naming the design), vargnet.hwh and
    accelerator.json in `out`, for the design folder `design` (as `python -m flow build`
    wrote it). The simulated board computes with that design's integer parameters."""
    design, out = Path(design).resolve(), Path(out)
    desc = Description.load(design)
    board = BOARDS[desc.board]
    out.mkdir(parents=True, exist_ok=True)
    payload = MAGIC + json.dumps({"design": str(design), "sha256": design_hash(design)}).encode()
    payload += b"\0" * (-len(payload) % 4)
    head = struct.pack(">h", 9) + bytes(9) + struct.pack(">h", 1)
    head += _bit_field(0x61, "vargnet_wrapper;UserID=0XFFFFFFFF;Version=2024.2")
    head += _bit_field(0x62, board.part)
    head += _bit_field(0x63, time.strftime("%Y/%m/%d")) + _bit_field(0x64, time.strftime("%H:%M:%S"))
    head += b"\x65" + struct.pack(">i", len(payload))
    (out / "vargnet.bit").write_bytes(head + payload)
    (out / "vargnet.hwh").write_text(hwh_text(board.part, desc.clock_mhz))
    shutil.copyfile(design / "accelerator.json", out / "accelerator.json")
    return out


def simulated_board_accelerator(design: Path, fabric: str = "csim", overlay: Optional[Path] = None):
    """A host.Accelerator whose board backend runs on a simulated board of the design's type,
    from a stand-in bitstream written for the design (into `overlay`, default a temp folder)."""
    import tempfile

    from host.accelerator import Accelerator

    board = Description.load(design).board
    overlay = write_simulated_overlay(Path(design), overlay or Path(tempfile.mkdtemp()) / board)
    return Accelerator(design, backend="board", bitstream_dir=overlay,
                       device=SimulatedZynqMP(board, fabric=fabric))


class _Memory:
    """PS DDR as pynq sees it: `allocate` gives non-coherent PynqBuffers (the CPU's cached
    view); DDR holds what was flushed or what the DMA wrote."""

    def __init__(self, device: "SimulatedZynqMP"):
        self.device = device
        self.regions: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # base -> (host view, DDR)
        self.next = DDR_BASE

    def allocate(self, shape, dtype, **kwargs) -> PynqBuffer:
        # every buffer is modelled as cached (pynq's default on Zynq UltraScale+); a driver
        # that asks for another kind still flushes/invalidates, which is harmless
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        host, ddr = np.zeros(max(n, 1), np.uint8), np.zeros(max(n, 1), np.uint8)
        base = self.next
        self.next += -(-max(n, 1) // PAGE) * PAGE
        self.regions[base] = (host, ddr)
        return PynqBuffer(shape, dtype, buffer=host, device_address=base, bo=base,
                          device=self.device, coherent=False)

    def locate(self, addr: int, n: int) -> Optional[tuple[np.ndarray, np.ndarray, int]]:
        for base, (host, ddr) in self.regions.items():
            if base <= addr and addr + n <= base + ddr.size:
                return host, ddr, addr - base
        return None


class _DmaChannel:
    HALTED, IDLE, INT_ERR, SLV_ERR, DEC_ERR, IOC = 0x1, 0x2, 0x10, 0x20, 0x40, 0x1000

    def __init__(self, mm2s: bool):
        self.mm2s = mm2s
        self.reset()

    def reset(self) -> None:
        self.cr, self.sr, self.addr, self.length, self.busy = 0, self.HALTED, 0, 0, False
        self.done_bytes = 0

    def status(self) -> int:
        sr = self.sr & ~self.IDLE
        if not (sr & self.HALTED) and not self.busy:
            sr |= self.IDLE
        return sr


class _Fabric:
    """The accelerator IP: ap_ctrl_hs block control around the design's integer model, and
    for nodes that read their weights from DDR, their AXI4 masters (`read`: the DDR behind
    the HP port) and the pointer registers that aim them."""

    def __init__(self, design: Path, model: str, read):
        from hls.design_files import load_params
        from hls.params_buffer import loads_cache, masters, region_words

        self.desc = Description.load(design)
        params = load_params(self.desc)
        self.read = read
        self.masters = masters(self.desc)
        self.pointers = {bd.ddr_pointer_offset(i) + k: 0 for i in range(len(self.masters)) for k in (0, 4)}
        # the load flag (designs with URAM weight caches): a register beside the pointers
        self.cached = {n.name for n in self.desc.nodes if loads_cache(n)}
        self.load_flag = bd.load_flag_offset(len(self.masters)) if self.cached else None
        if self.load_flag is not None:
            self.pointers[self.load_flag] = 0
        self.loaded = False  # whether a frame has filled the caches
        # what the golden model computes with: the build's weights (it cannot compute with others)
        self.expected = {r.node: region_words(self.desc, r, params) for m in self.masters for r in m.regions}
        self.kind = model
        if model == "csim":
            from hls.csim_net import NetworkCsim

            self.model = NetworkCsim(self.desc, params)
        else:
            from sim.golden import GoldenModel

            self.model = GoldenModel(self.desc, params)
        self.shape = tuple(self.desc.input["shape"])
        self.frame_beats = self.shape[0] * self.shape[1]
        self.ctrl = bd.AP_IDLE
        self.inq: deque[int] = deque()
        self.outq: deque[tuple[int, bool]] = deque()
        self.frames = 0

    def step(self) -> bool:
        """Run one frame when started, a whole frame waits and the output has drained
        (the stream's back-pressure); return whether it ran."""
        if not self.ctrl & bd.AP_START or len(self.inq) < self.frame_beats or self.outq:
            return False
        from hls.packing import pack_output, unpack_input

        load = self.load_flag is not None and bool(self.pointers[self.load_flag] & 1)
        self._read_weights(load)
        beats = np.array([self.inq.popleft() for _ in range(self.frame_beats)], np.uint32)
        x = unpack_input(beats[None], self.shape)
        out = pack_output(self.model.run(x, load=load) if self.kind == "csim" else self.model.run(x))[0]
        self.outq.extend((int(w) & 0xFFFFFFFF, i == len(out) - 1) for i, w in enumerate(out))
        self.frames += 1
        self.ctrl |= bd.AP_DONE | bd.AP_READY
        if not self.ctrl & bd.AUTO_RESTART:
            self.ctrl = (self.ctrl & ~bd.AP_START) | bd.AP_IDLE
        return True

    def _read_weights(self, load: bool) -> None:
        """Each AXI master reads what it reads from where its pointer register aims: a DDR
        node's its region every frame, the cache loader every cache's region in a frame that
        loads; an address outside allocated DDR is a decode error (DECERR) of the
        interconnect, which the HLS master does not check: the frame would compute with
        whatever came back, so the simulation stops with the error instead."""
        for i, m in enumerate(self.masters):
            if m.loads_caches and not load:
                if self.kind != "csim" and not self.loaded:
                    raise SimulatedBoardError(
                        f"URAM cache was never loaded: node {', '.join(r.node for r in m.regions)} (the load flag "
                        f"register {self.load_flag:#x} was 0 in every frame); on the board it computes with zeros")
                continue
            off = bd.ddr_pointer_offset(i)
            addr = self.pointers[off] | (self.pointers[off + 4] << 32)
            what = ("the cache loader" if m.loads_caches else "the shared engine" if m.node == SHARED_REGION
                    else f"node {m.node}")
            try:
                span = self.read(addr, m.nbytes)
            except SimulatedBoardError:
                raise SimulatedBoardError(
                    f"{bd.ACCEL}/{bd.DDR_MASTER.format(i)} ({what}) read {m.nbytes} bytes at "
                    f"{addr:#x}, outside allocated DDR: the interconnect answers DECERR (is the "
                    f"parameter buffer's address written to register {off:#x}?)") from None
            self.loaded = self.loaded or m.loads_caches
            for r in m.regions:
                data = span[r.offset - m.offset:r.offset - m.offset + r.nbytes]
                if self.kind == "csim":
                    self.model.load_ddr(r.node, data)
                elif data != self.expected[r.node]:
                    raise SimulatedBoardError(f"{'the shared engine' if r.node == SHARED_REGION else 'node ' + r.node}: "
                                              f"its DDR region differs from the build's weights; "
                                              f"the golden fabric computes only with those (use fabric='csim')")


class SimulatedZynqMP(pynq.Device):
    """A Zynq UltraScale+ board (default ZCU104) for pynq: pass it as `device=` to
    `pynq.Overlay`, `pynq.allocate(target=...)` or `host.Accelerator(..., device=...)`.
    `fabric`: csim (the generated HLS, compiled natively) or golden (the numpy model)."""

    simulated = True  # host.Accelerator labels its results "simulated-board"

    def __init__(self, board: str = "zcu104", fabric: str = "csim"):
        super().__init__(f"simulated_{board}")
        if board not in BOARDS:
            raise SimulatedBoardError(f"unknown board {board!r}; known: {', '.join(sorted(BOARDS))}")
        if fabric not in ("csim", "golden"):
            raise SimulatedBoardError(f"fabric must be csim or golden, not {fabric!r}")
        self.board, self.fabric_model = BOARDS[board], fabric
        self.name = board
        self.arch = "aarch64"  # the A53 cluster: pynq's Clocks then drive the ZynqMP registers
        self.capabilities = {"REGISTER_RW": True, "MEMORY_MAPPED": False, "CALLABLE": False}
        self.bitfile_name, self.timestamp = None, ""
        self._memory = _Memory(self)
        self.fabric: Optional[_Fabric] = None
        self.mm2s, self.s2mm = _DmaChannel(True), _DmaChannel(False)
        self.ps_regs: dict[int, int] = {}
        self._ps_reset()

    # ---- what pynq asks of a Device ----------------------------------------------------------
    @property
    def default_memory(self) -> _Memory:
        return self._memory

    def get_bitfile_metadata(self, bitfile_name: str):
        from pynqmetadata.frontends import Metadata
        from pynqmetadata.views.runtime import RuntimeMetadataParser

        hwh = Path(bitfile_name).with_suffix(".hwh")
        if not hwh.is_file():
            raise SimulatedBoardError(f"{bitfile_name}: no {hwh.name} beside the bitstream")
        parser = RuntimeMetadataParser(Metadata(input=hwh))
        parser.refresh_hierarchy_dict()
        return parser

    def download(self, bitstream, parser=None) -> None:
        from pynq.pl_server.embedded_device import parse_bit_header

        raw = Path(bitstream.bitfile_name).read_bytes()
        try:
            head = parse_bit_header(raw)
        except Exception as e:
            raise SimulatedBoardError(f"{bitstream.bitfile_name}: not a Xilinx .bit file ({e})") from None
        part = self.board.part
        if head.get("part") != part:
            raise SimulatedBoardError(f"{bitstream.bitfile_name} was built for part {head.get('part')}, "
                                      f"this {self.name} has {part}")
        data = head["data"]
        if not data.startswith(MAGIC):
            raise SimulatedBoardError(f"{bitstream.bitfile_name}: a real bitstream; the simulated "
                                      f"board runs only bitstreams written by write_simulated_overlay")
        info = json.loads(data[len(MAGIC):].rstrip(b"\0"))
        design = Path(info["design"])
        if not (design / "accelerator.json").is_file():
            raise SimulatedBoardError(f"{bitstream.bitfile_name}: its design folder {design} is gone")
        if design_hash(design) != info["sha256"]:
            raise SimulatedBoardError(f"{bitstream.bitfile_name}: the design folder {design} changed "
                                      f"after this bitstream was written; write it again")
        self.fabric = _Fabric(design, self.fabric_model, self.ddr)
        self.mm2s.reset()
        self.s2mm.reset()
        self.post_download(bitstream, parser, self.name)

    def read_registers(self, address: int, length: int) -> bytes:
        if address % 4 or length % 4:
            raise SimulatedBoardError(f"unaligned register read at {address:#x} ({length} bytes)")
        return b"".join(struct.pack("<I", self._read32(address + i)) for i in range(0, length, 4))

    def write_registers(self, address: int, data: bytes) -> None:
        if address % 4 or len(data) % 4:
            raise SimulatedBoardError(f"unaligned register write at {address:#x} ({len(data)} bytes)")
        for i in range(0, len(data), 4):
            self._write32(address + i, struct.unpack("<I", data[i:i + 4])[0])

    def flush(self, bo: int, offset: int, ptr: int, size: int) -> None:
        host, ddr = self._memory.regions[bo]
        ddr[offset:offset + size] = host[offset:offset + size]

    def invalidate(self, bo: int, offset: int, ptr: int, size: int) -> None:
        host, ddr = self._memory.regions[bo]
        host[offset:offset + size] = ddr[offset:offset + size]

    # ---- observation (tests, notebook) -------------------------------------------------------
    @property
    def pl_clock_mhz(self) -> float:
        """PL clock 0 as the PS registers now make it (IOPLL / divisor0 / divisor1)."""
        ctrl = self.ps_regs[CRL_APB + 0xC0]
        return 1500.0 / (((ctrl >> 8) & 0x3F) * ((ctrl >> 16) & 0x3F))

    def ddr(self, address: int, nbytes: int) -> bytes:
        loc = self._memory.locate(address, nbytes)
        if loc is None:
            raise SimulatedBoardError(f"{address:#x}: not allocated DDR")
        return loc[1][loc[2]:loc[2] + nbytes].tobytes()

    # ---- the register file -------------------------------------------------------------------
    def _ps_reset(self) -> None:
        pll = (0 << 20) | (1 << 16) | (90 << 8)  # PRE_SRC=PS_REF_CLK, DIV2, FBDIV=90: 1500 MHz
        for base, offs in ((CRL_APB, (0x20, 0x30)), (CRF_APB, (0x20, 0x2C, 0x38))):
            for o in offs:
                self.ps_regs[base + o] = pll
        self.ps_regs[CRF_APB + 0x60] = (1 << 8)  # ACPU_CTRL: APLL / 1
        for i in range(4):  # PLi_REF_CTRL: IOPLL / 15 / 1 = 100 MHz, clock active
            self.ps_regs[CRL_APB + 0xC0 + 4 * i] = (1 << 24) | (1 << 16) | (15 << 8)

    def _window(self, address: int) -> tuple[str, int]:
        for name, base, size in (("dma", bd.DMA_BASE, bd.SLAVE_RANGE), ("accel", bd.ACCEL_BASE, bd.SLAVE_RANGE),
                                 ("ps", CRL_APB, CLK_WINDOW), ("ps", CRF_APB, CLK_WINDOW)):
            if base <= address < base + size:
                return name, address - base
        raise SimulatedBoardError(f"bus error: nothing is mapped at {address:#010x} on the simulated "
                                  f"{self.name}")

    def _need_fabric(self) -> _Fabric:
        if self.fabric is None:
            raise SimulatedBoardError("bus error: the PL is not configured (no bitstream downloaded)")
        return self.fabric

    def _read32(self, address: int) -> int:
        where, off = self._window(address)
        if where == "ps":
            return self.ps_regs.get(address, 0)
        fab = self._need_fabric()
        if where == "accel":
            if off == bd.AP_CTRL:
                v = fab.ctrl
                fab.ctrl &= ~(bd.AP_DONE | bd.AP_READY)  # clear on read
                return v
            return fab.pointers.get(off, 0)
        ch, reg = self._channel(off)
        return {R["MM2S_DMACR"]: ch.cr, R["MM2S_DMASR"]: ch.status(),
                R["MM2S_SA"]: ch.addr & 0xFFFFFFFF, R["MM2S_SA_MSB"]: ch.addr >> 32,
                R["MM2S_LENGTH"]: ch.done_bytes if not ch.mm2s and not ch.busy else ch.length}.get(reg, 0)

    def _write32(self, address: int, value: int) -> None:
        where, off = self._window(address)
        if where == "ps":
            self.ps_regs[address] = value
            return
        fab = self._need_fabric()
        if where == "accel":
            if off == bd.AP_CTRL:
                keep = fab.ctrl & (bd.AP_DONE | bd.AP_READY)
                start = value & bd.AP_START
                fab.ctrl = keep | (value & bd.AUTO_RESTART) | start | (0 if start else bd.AP_IDLE)
                self._pump()
            elif off in fab.pointers:
                fab.pointers[off] = value & 0xFFFFFFFF
            return
        ch, reg = self._channel(off)
        if reg == R["MM2S_DMACR"]:
            if value & 0x4:  # soft reset resets both channels
                self.mm2s.reset()
                self.s2mm.reset()
                return
            ch.cr = value
            ch.sr = (ch.sr & ~ch.HALTED) if value & 0x1 else (ch.sr | ch.HALTED)
        elif reg == R["MM2S_DMASR"]:
            ch.sr &= ~(value & 0x7000)  # interrupt bits are write-one-to-clear
        elif reg == R["MM2S_SA"]:
            ch.addr = (ch.addr & ~0xFFFFFFFF) | value
        elif reg == R["MM2S_SA_MSB"]:
            ch.addr = (ch.addr & 0xFFFFFFFF) | (value << 32)
        elif reg == R["MM2S_LENGTH"] and value and not ch.sr & ch.HALTED:
            ch.length, ch.busy, ch.done_bytes = value, True, 0
            if ch.mm2s:
                self._mm2s_start(fab)
            self._pump()

    def _channel(self, off: int) -> tuple[_DmaChannel, int]:
        """The channel a DMA register offset belongs to, and the offset in MM2S's layout."""
        return (self.mm2s, off) if off < bd.DMA_S2MM else (self.s2mm, off - bd.DMA_S2MM)

    def _mm2s_start(self, fab: _Fabric) -> None:
        ch = self.mm2s
        loc = self._memory.locate(ch.addr, ch.length)
        if loc is None or ch.length % 4:
            ch.sr |= ch.DEC_ERR | ch.HALTED
            ch.busy = False
            return
        _, ddr, off = loc
        fab.inq.extend(int(w) for w in ddr[off:off + ch.length].view(np.uint32))
        ch.done_bytes = ch.length

    def _pump(self) -> None:
        """Move data until nothing changes: the accelerator consumes frames, S2MM drains its
        output into DDR; MM2S is done once the accelerator has taken every beat."""
        fab, s2 = self.fabric, self.s2mm
        while True:
            moved = fab.step()
            while fab.outq and s2.busy:
                loc = self._memory.locate(s2.addr + s2.done_bytes, 4)
                if s2.done_bytes + 4 > s2.length or loc is None:
                    s2.sr |= (s2.INT_ERR if s2.done_bytes + 4 > s2.length else s2.DEC_ERR) | s2.HALTED
                    s2.busy = False
                    break
                word, last = fab.outq.popleft()
                _, ddr, off = loc
                ddr[off:off + 4] = np.frombuffer(struct.pack("<I", word), np.uint8)
                s2.done_bytes += 4
                moved = True
                if last:
                    s2.busy = False
                    s2.sr |= s2.IOC
            if not moved:
                break
        if self.mm2s.busy and not fab.inq:
            self.mm2s.busy = False
            self.mm2s.sr |= self.mm2s.IOC
