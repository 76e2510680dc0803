"""Backends behind the one accelerator interface: each takes packed input beats (uint32,
N x pixels) and returns output beats (int32, N x channels), like the DMA does.

- PynqBackend: the board: pynq Overlay from bitstreams/<board>/ (.bit with its .hwh), AXI DMA
  send and receive on pynq.allocate buffers, ap_start on the accelerator's AXI-lite control.
- CsimBackend: the whole-network C-simulation of the generated HLS (g++, flow/csim_net.py).
- GoldenBackend: the golden integer model (sim/golden.py); timing from the simulator.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from host.packing import pack_output, unpack_input


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

    def __init__(self, desc, params):
        from flow.csim_net import NetworkCsim

        super().__init__(desc, NetworkCsim(desc, params))


AP_CTRL = 0x00  # ap_start (bit 0), ap_done (1), ap_idle (2), auto_restart (7)


class PynqBackend:
    """The board. `overlay_dir` holds vargnet.bit, vargnet.hwh and accelerator.json."""

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
        kw = {"device": device} if device is not None else {}
        self.overlay = pynq.Overlay(str(bit), **kw)
        self.dma = self.overlay.axi_dma
        self.ip = self.overlay.vargnet
        self.timeout = timeout_s
        self.channels = desc.output["channels"]
        h, w, _ = desc.input["shape"]
        self.in_buf = pynq.allocate(shape=(h * w,), dtype=np.uint32, **kw)
        self.out_buf = pynq.allocate(shape=(self.channels,), dtype=np.int32, **kw)
        self.ip.write(AP_CTRL, 0x81)  # ap_start with auto-restart: one frame per DMA transfer

    def run(self, beats: np.ndarray) -> np.ndarray:
        out = np.empty((beats.shape[0], self.channels), np.int32)
        for i in range(beats.shape[0]):
            self.in_buf[:] = beats[i]
            self.in_buf.flush()
            self.dma.recvchannel.transfer(self.out_buf)
            self.dma.sendchannel.transfer(self.in_buf)
            self._wait(self.dma.sendchannel, "input")
            self._wait(self.dma.recvchannel, "output")
            self.out_buf.invalidate()
            out[i] = self.out_buf
        return out

    def _wait(self, channel, what: str) -> None:
        t0 = time.perf_counter()
        while not channel.idle:
            if time.perf_counter() - t0 > self.timeout:
                raise BackendError(f"the board did not complete the {what} DMA transfer within "
                                   f"{self.timeout:.1f} s (is the bitstream the one for this "
                                   f"description, and the accelerator started?)")
            time.sleep(0)


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
