"""Supported boards: device, resource budget, default clock. Pure data (no FINN import), so the
simulator and the host can read it too."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Board:
    name: str
    part: str
    lut: int
    ff: int
    dsp: int
    bram36: int
    uram: int
    clock_mhz: float = 200.0
    pynq_board: str = ""  # the PYNQ image's board name
    vivado_board_part: str = ""
    # data width of one PS-PL high-performance AXI port (S_AXI_HPx_FPD): 128 bits on every
    # Zynq UltraScale+ (AMD UG1085, "PL-PS AXI interfaces"); its peak at the PL clock is an
    # upper bound on what one port delivers, the DDR controller and traffic may give less
    hp_port_bits: int = 128

    def hp_port_bytes_per_s(self, clock_mhz: float) -> float:
        """Peak bytes per second of one HP port at the PL clock (an upper bound)."""
        return self.hp_port_bits / 8 * clock_mhz * 1e6

    def budget(self, fraction: float = 1.0) -> dict[str, float]:
        return {"LUT": self.lut * fraction, "FF": self.ff * fraction, "DSP": self.dsp * fraction,
                "BRAM36": self.bram36 * fraction, "URAM": self.uram * fraction}


BOARDS = {
    # xczu7ev-ffvc1156-2-e (AMD DS891 / ZCU104 user guide UG1267)
    "zcu104": Board("zcu104", "xczu7ev-ffvc1156-2-e", 230_400, 460_800, 1_728, 312, 96,
                    200.0, "ZCU104", "xilinx.com:zcu104:part0:1.1"),
    # Kria K26 SOM: xck26-sfvc784-2LV-c (DS987): 117,120 LUT, 234,240 FF, 1,248 DSP,
    # 144 BRAM36, 64 URAM
    "kv260": Board("kv260", "xck26-sfvc784-2LV-c", 117_120, 234_240, 1_248, 144, 64,
                   200.0, "KV260", "xilinx.com:kv260_som:part0:1.4"),
    # Ultra96-V2: xczu3eg-sbva484-1-i (DS891): 70,560 LUT, 141,120 FF, 360 DSP, 216 BRAM36,
    # no URAM
    "ultra96v2": Board("ultra96v2", "xczu3eg-sbva484-1-i", 70_560, 141_120, 360, 216, 0,
                       200.0, "Ultra96", "avnet.com:ultra96v2:part0:1.2"),
}


class BoardError(ValueError):
    pass


def get_board(name: str) -> Board:
    try:
        return BOARDS[name.lower()]
    except KeyError:
        raise BoardError(f"unknown board {name!r}; supported boards: {', '.join(BOARDS)}") from None
