"""Backends behind the one accelerator interface: each takes packed input beats (uint32,
N x pixels) and returns output beats (int32, N x channels), like the DMA does.

- PynqBackend: the board: pynq Overlay from bitstreams/<board>/ (.bit with its .hwh), AXI DMA
  send and receive on pynq.allocate buffers, ap_start on the accelerator's AXI-lite control.
- CsimBackend: the whole-network C-simulation of the generated HLS (g++, hls/csim_net.py).
- GoldenBackend: the golden integer model (sim/golden.py); timing from the simulator.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from hls import blockdesign as bd
from hls.packing import pack_output, unpack_input


class BackendError(RuntimeError):
    pass


class _SimulatedBackend:
    """A backend that runs an integer model on the unpacked images (the DMA's beats in and
    out, like the board), so the host's packing is exercised on every backend."""

    name = ""

    def __init__(self, desc, model):
        self.desc = desc
        self.model = model  # anything with run(uint8 N x H x W x C) -> int64 N x channels
        self.shape = tuple(desc.input["shape"])

    def run(self, beats: np.ndarray) -> np.ndarray:
        return pack_output(self.model.run(unpack_input(beats, self.shape)))


class GoldenBackend(_SimulatedBackend):
    name = "golden"

    def __init__(self, desc, params):
        from sim.golden import GoldenModel

        super().__init__(desc, GoldenModel(desc, params))


class CsimBackend(_SimulatedBackend):
    name = "csim"

    def __init__(self, desc, params, sources: "Path | None" = None):
        """sources: the build's hls/ folder (its network.h and csim_top.cpp are compiled);
        None: generated from the description."""
        from hls.csim_net import NetworkCsim

        super().__init__(desc, NetworkCsim(desc, params, sources=sources))


class PynqBackend:
    """The board. `overlay_dir` holds vargnet.bit, vargnet.hwh and accelerator.json. `device`:
    a pynq Device (default: pynq's active device; host/simulated_board.py has a simulated one)."""

    name = "board"

    def __init__(self, desc, overlay_dir: Path, timeout_s: float = 2.0, device=None):
        bit = Path(overlay_dir) / "vargnet.bit"
        hwh = bit.with_suffix(".hwh")
        for f, what in ((bit, "bitstream"), (hwh, ".hwh hardware description"),
                        (Path(overlay_dir) / "accelerator.json", "accelerator description")):
            if not f.is_file():
                raise BackendError(f"{overlay_dir}: the {what} {f.name} is missing")
        check_bitstream_description(desc, Path(overlay_dir) / "accelerator.json")
        try:
            import pynq
        except ImportError:
            raise BackendError("the board backend needs the pynq package (the board image or "
                               ".venv-host has it)") from None
        self.overlay = pynq.Overlay(str(bit), device=device)
        for ip in (bd.DMA, bd.ACCEL):
            if ip not in self.overlay.ip_dict:
                raise BackendError(f"{hwh}: the block design has no IP named {ip!r} (found: "
                                   f"{', '.join(sorted(self.overlay.ip_dict))}); was it built by the flow?")
        self.dma = getattr(self.overlay, bd.DMA)
        self.ip = getattr(self.overlay, bd.ACCEL)
        self.timeout = timeout_s
        self.channels = desc.output["channels"]
        h, w, _ = desc.input["shape"]
        self.in_buf = pynq.allocate(shape=(h * w,), dtype=np.uint32, target=device)
        self.out_buf = pynq.allocate(shape=(self.channels,), dtype=np.int32, target=device)
        self._load_params_buffer(desc, pynq, device)
        # ap_start with auto-restart: the accelerator takes one frame per DMA transfer
        self.ip.write(bd.AP_CTRL, bd.AP_START | bd.AUTO_RESTART)
        if not self.ip.read(bd.AP_CTRL) & bd.AUTO_RESTART:
            raise BackendError(f"{bd.ACCEL}: the control register did not take ap_start with "
                               f"auto-restart (is the bitstream loaded?)")

    def _load_params_buffer(self, desc, pynq, device) -> None:
        """The weights of the nodes that read them from DDR: the build's parameter buffer,
        checked against the description (size, checksum) before the first frame, copied into
        a buffer of PS DDR once, and each AXI master's address (a DDR node's region, the
        cache loader's first region) written to its pointer register (hls/blockdesign.py)."""
        from hls.params_buffer import ParamsBufferError, load, loads_cache, masters

        try:
            data = load(desc)
        except ParamsBufferError as e:
            raise BackendError(f"parameter buffer refused: {e}") from None
        self.params_buf = None
        self.load_flag: Optional[int] = None
        if not data:
            return
        self.params_buf = pynq.allocate(shape=(len(data),), dtype=np.uint8, target=device)
        self.params_buf[:] = np.frombuffer(data, np.uint8)
        self.params_buf.flush()  # the masters read DDR, not the CPU's cache
        ms = masters(desc)
        for i, m in enumerate(ms):
            addr = int(self.params_buf.device_address) + m.offset
            self.ip.write(bd.ddr_pointer_offset(i), addr & 0xFFFFFFFF)
            self.ip.write(bd.ddr_pointer_offset(i) + 4, addr >> 32)
        if any(loads_cache(n) for n in desc.nodes):
            # URAM weight caches: the first frame fills them from the buffer (run clears it)
            self.load_flag = bd.load_flag_offset(len(ms))
            self.ip.write(self.load_flag, 1)

    def run(self, beats: np.ndarray) -> np.ndarray:
        out = np.empty((beats.shape[0], self.channels), np.int32)
        want = self.channels * 4
        for i in range(beats.shape[0]):
            self.in_buf[:] = beats[i]
            self.dma.recvchannel.transfer(self.out_buf)  # arm the receive side first
            self.dma.sendchannel.transfer(self.in_buf)  # flushes in_buf, then starts MM2S
            self._wait(self.dma.sendchannel, "input")
            self._wait(self.dma.recvchannel, "output")
            got = self.dma.recvchannel.transferred  # set by pynq's wait(), which invalidated out_buf
            if got != want:
                raise BackendError(f"the board returned {got} bytes for image {i}, the description "
                                   f"expects {want} ({self.channels} channels): mismatched bitstream")
            out[i] = self.out_buf
            if self.load_flag is not None:  # the caches are full: later frames need no load
                self.ip.write(self.load_flag, 0)
                self.load_flag = None
        return out

    def _wait(self, channel, what: str) -> None:
        """pynq's channel.wait() once the channel is idle: it has no timeout, so the channel is
        polled here first (a bitstream that never answers ends with a message, not a hang);
        wait() then records `transferred` and invalidates a receive buffer."""
        t0 = time.perf_counter()
        while not channel.idle:
            if channel.error:
                break
            if time.perf_counter() - t0 > self.timeout:
                raise BackendError(f"the board did not complete the {what} DMA transfer within "
                                   f"{self.timeout:.1f} s (is the bitstream the one for this "
                                   f"description, and the accelerator started?)")
            time.sleep(0)
        if channel.error:
            sr = self.dma.mmio.read(DMASR[what])
            kinds = [k for bit, k in ((0x10, "internal (a packet longer than the buffer?)"),
                                      (0x20, "slave"), (0x40, "decode (invalid address)")) if sr & bit]
            raise BackendError(f"the {what} DMA channel stopped with an error: "
                               f"{', '.join(kinds) or 'unknown'} (status {sr:#x})")
        channel.wait()


# AXI DMA registers read directly: each channel's status (to name its error).
DMASR = {"input": bd.DMA_REGS["MM2S_DMASR"], "output": bd.DMA_REGS["S2MM_DMASR"]}


def check_bitstream_description(desc, path: Path) -> None:
    """The description shipped with a bitstream must be the one the host runs."""
    import json

    other = json.loads(Path(path).read_text())
    if other.get("version") != desc.version:
        raise BackendError(f"{path}: description version {other.get('version')} does not match the "
                           f"host's {desc.version}")
    mine = desc.to_dict()
    for key in ("input", "output"):
        a, b = other.get(key, {}), mine[key]
        for k in ("shape", "dtype", "channels", "stream"):
            if k in b and a.get(k) != b.get(k):
                raise BackendError(f"{path}: the bitstream's {key} {k} is {a.get(k)!r}, the host's "
                                   f"description says {b.get(k)!r} (mismatched bitstream)")
    if [n["params"] for n in other.get("nodes", [])] != [n["params"] for n in mine["nodes"]]:
        raise BackendError(f"{path}: the bitstream was built for different layers or datatypes "
                           f"than the host's description")


def pynq_devices() -> list:
    try:
        import pynq

        return list(pynq.Device.devices)
    except Exception:
        return []
