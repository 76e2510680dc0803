"""A Vivado hardware handoff (.hwh) for the block design of hls/blockdesign.py, for the
simulated board (host/simulated_board.py).

On a real build Vivado writes vargnet.hwh next to the bitstream; pynq's Overlay reads the IP
names, addresses, register maps, DMA configuration and PL clocks from it. Where there is no
Vivado, this module writes a handoff of the same design in the same XML schema (modules,
bus interfaces with port maps, connections, address blocks, the PS's memory map), so the
board driver goes through pynq's own metadata parser and driver binding. It is a model of
what Vivado writes, reduced to what the design has: no reset block, AXI buses with their
handshake and data signals only, no interrupts (the driver polls).

Standard library only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Optional

from hls import blockdesign as bd

IOPLL_MHZ = 1500.0  # the ZCU104/KV260 PS preset: 33.333 MHz x 90 / 2 (pynq reads it back)

_AXIMM = ["AWADDR", "AWVALID", "AWREADY", "WDATA", "WSTRB", "WVALID", "WREADY", "BRESP", "BVALID",
          "BREADY", "ARADDR", "ARVALID", "ARREADY", "RDATA", "RRESP", "RVALID", "RREADY"]
_AXIMM_IN = {"AWREADY", "WREADY", "BRESP", "BVALID", "ARREADY", "RDATA", "RRESP", "RVALID"}  # at a master
_AXIS = ["TDATA", "TVALID", "TREADY", "TLAST"]
_AXIS_IN = {"TREADY"}  # at a master
_WIDTH = {"AWADDR": 40, "ARADDR": 40, "WDATA": 32, "RDATA": 32, "WSTRB": 4, "BRESP": 2, "RRESP": 2,
          "TDATA": 32}


@dataclass
class Bus:
    name: str
    kind: str  # aximm | axis
    master: bool
    peer: Optional[tuple[str, str]] = None  # (instance, bus)

    def signals(self) -> list[tuple[str, str, int]]:
        """(logical, direction at this bus, width)"""
        names, inputs = (_AXIMM, _AXIMM_IN) if self.kind == "aximm" else (_AXIS, _AXIS_IN)
        out = []
        for s in names:
            into = s in inputs if self.master else s not in inputs
            out.append((s, "I" if into else "O", _WIDTH.get(s, 1)))
        return out

    def physical(self, logical: str) -> str:
        return f"{self.name}_{logical}".lower() if self.kind == "axis" else f"{self.name}_{logical}"


@dataclass
class Module:
    instance: str
    vlnv: str
    modtype: str
    params: dict[str, str] = field(default_factory=dict)
    buses: list[Bus] = field(default_factory=list)
    registers: Optional[tuple[str, list[tuple[str, int, list[tuple[str, int, int]]]]]] = None
    memranges: list[dict[str, str]] = field(default_factory=list)
    clock_in: Optional[str] = "aclk"
    is_pl: bool = True


def pl_clock_divisors(mhz: float) -> tuple[int, int, float]:
    """The two 6-bit dividers from the IOPLL closest to `mhz` without exceeding it, and the
    frequency they give (the PS can only make IOPLL / (d0 * d1))."""
    best = None
    for d0 in range(1, 64):
        for d1 in range(1, 64):
            f = IOPLL_MHZ / (d0 * d1)
            if f <= mhz + 1e-9 and (best is None or f > best[2] + 1e-12):
                best = (d0, d1, f)
    if best is None:
        raise ValueError(f"no PL clock of at most {mhz} MHz can be derived from the IOPLL")
    return best


def _ps(clock_mhz: float) -> Module:
    d0, d1, f = pl_clock_divisors(clock_mhz)
    params = {"PSU__USE__M_AXI_GP0": "1", "PSU__USE__S_AXI_GP2": "1",
              "PSU__CRL_APB__IOPLL_CTRL__FBDIV": "90", "PSU__CRL_APB__IOPLL_CTRL__DIV2": "1"}
    for i in range(4):
        on = i == 0
        params[f"PSU__FPGA_PL{i}_ENABLE"] = "1" if on else "0"
        params[f"PSU__CRL_APB__PL{i}_REF_CTRL__SRCSEL"] = "IOPLL"
        params[f"PSU__CRL_APB__PL{i}_REF_CTRL__DIVISOR0"] = str(d0 if on else 4)
        params[f"PSU__CRL_APB__PL{i}_REF_CTRL__DIVISOR1"] = str(d1 if on else 1)
        params[f"PSU__CRL_APB__PL{i}_REF_CTRL__FREQMHZ"] = f"{clock_mhz:g}" if on else "100"
        params[f"PSU__CRL_APB__PL{i}_REF_CTRL__ACT_FREQMHZ"] = f"{f:.6f}" if on else "-1"
    regs = [("M_AXI_HPM0_FPD", bd.DMA, "S_AXI_LITE", bd.DMA_BASE),
            ("M_AXI_HPM0_FPD", bd.ACCEL, "s_axi_control", bd.ACCEL_BASE)]
    memranges = [{"ADDRESSBLOCK": "Reg", "BASENAME": "C_BASEADDR", "BASEVALUE": f"0x{base:08X}",
                  "HIGHNAME": "C_HIGHADDR", "HIGHVALUE": f"0x{base + bd.SLAVE_RANGE - 1:08X}",
                  "INSTANCE": inst, "IS_DATA": "TRUE", "IS_INSTRUCTION": "TRUE",
                  "MASTERBUSINTERFACE": m, "MEMTYPE": "REGISTER", "SLAVEBUSINTERFACE": s}
                 for m, inst, s, base in regs]
    return Module(bd.PS, "xilinx.com:ip:zynq_ultra_ps_e:3.5", "zynq_ultra_ps_e", params,
                  [Bus("M_AXI_HPM0_FPD", "aximm", True, (bd.PERIPH_INTERCONNECT, "S00_AXI")),
                   Bus("S_AXI_HP0_FPD", "aximm", False, (bd.MEM_INTERCONNECT, "M00_AXI"))],
                  memranges=memranges, clock_in=None, is_pl=False)


def _dma() -> Module:
    params = {k: str(v) for k, v in bd.DMA_CONFIG.items()}
    params.update({"c_micro_dma": "0", "c_include_mm2s": "1", "c_include_s2mm": "1",
                   "c_m_axi_mm2s_data_width": "32", "c_m_axi_s2mm_data_width": "32",
                   "c_include_mm2s_dre": "0", "c_include_s2mm_dre": "0", "c_addr_width": "32"})
    regs = list(bd.DMA_REGS.items())
    lo, hi = bd.DDR_LOW
    mem = [{"ADDRESSBLOCK": "HP0_DDR_LOW", "BASENAME": "C_BASEADDR", "BASEVALUE": f"0x{lo:08X}",
            "HIGHNAME": "C_HIGHADDR", "HIGHVALUE": f"0x{hi:08X}", "INSTANCE": bd.PS, "IS_DATA": "TRUE",
            "IS_INSTRUCTION": "TRUE", "MASTERBUSINTERFACE": m, "MEMTYPE": "MEMORY",
            "SLAVEBUSINTERFACE": "S_AXI_HP0_FPD"} for m in ("M_AXI_MM2S", "M_AXI_S2MM")]
    return Module(bd.DMA, "xilinx.com:ip:axi_dma:7.1", "axi_dma", params,
                  [Bus("S_AXI_LITE", "aximm", False, (bd.PERIPH_INTERCONNECT, "M00_AXI")),
                   Bus("M_AXI_MM2S", "aximm", True, (bd.MEM_INTERCONNECT, "S00_AXI")),
                   Bus("M_AXI_S2MM", "aximm", True, (bd.MEM_INTERCONNECT, "S01_AXI")),
                   Bus("M_AXIS_MM2S", "axis", True, (bd.ACCEL, "in_r")),
                   Bus("S_AXIS_S2MM", "axis", False, (bd.ACCEL, "out_r"))],
                  ("S_AXI_LITE", [(n, o, []) for n, o in regs]), mem, "s_axi_lite_aclk")


def _accel() -> Module:
    ctrl = [("AP_START", 0, 1), ("AP_DONE", 1, 1), ("AP_IDLE", 2, 1), ("AP_READY", 3, 1),
            ("AUTO_RESTART", 7, 1)]
    regs = [("CTRL", bd.AP_CTRL, ctrl), ("GIER", 0x4, [("Enable", 0, 1)]),
            ("IP_IER", 0x8, [("CHAN0_INT_EN", 0, 1), ("CHAN1_INT_EN", 1, 1)]),
            ("IP_ISR", 0xC, [("CHAN0_INT_ST", 0, 1), ("CHAN1_INT_ST", 1, 1)])]
    return Module(bd.ACCEL, "vargnet:hls:vargnet_top:1.0", "vargnet_top", {"Component_Name": "vargnet_0"},
                  [Bus("s_axi_control", "aximm", False, (bd.PERIPH_INTERCONNECT, "M01_AXI")),
                   Bus("in_r", "axis", False, (bd.DMA, "M_AXIS_MM2S")),
                   Bus("out_r", "axis", True, (bd.DMA, "S_AXIS_S2MM"))],
                  ("s_axi_control", regs), clock_in="ap_clk")


def _interconnects() -> list[Module]:
    periph = Module(bd.PERIPH_INTERCONNECT, "xilinx.com:ip:axi_interconnect:2.1", "axi_interconnect",
                    {"NUM_SI": "1", "NUM_MI": "2"},
                    [Bus("S00_AXI", "aximm", False, (bd.PS, "M_AXI_HPM0_FPD")),
                     Bus("M00_AXI", "aximm", True, (bd.DMA, "S_AXI_LITE")),
                     Bus("M01_AXI", "aximm", True, (bd.ACCEL, "s_axi_control"))])
    mem = Module(bd.MEM_INTERCONNECT, "xilinx.com:ip:smartconnect:1.0", "smartconnect",
                 {"NUM_SI": "2", "NUM_MI": "1"},
                 [Bus("S00_AXI", "aximm", False, (bd.DMA, "M_AXI_MM2S")),
                  Bus("S01_AXI", "aximm", False, (bd.DMA, "M_AXI_S2MM")),
                  Bus("M00_AXI", "aximm", True, (bd.PS, "S_AXI_HP0_FPD"))])
    return [periph, mem]


def _add_registers(mod: ET.Element, bus: str, regs: list) -> None:
    blocks = ET.SubElement(mod, "ADDRESSBLOCKS")
    ab = ET.SubElement(blocks, "ADDRESSBLOCK", ACCESS="read-write", INTERFACE=bus, NAME="Reg",
                       RANGE=str(bd.SLAVE_RANGE), USAGE="register")
    rs = ET.SubElement(ab, "REGISTERS")
    for name, offset, fields in regs:
        r = ET.SubElement(rs, "REGISTER", NAME=name)
        for k, v in (("DESCRIPTION", name), ("ADDRESS_OFFSET", hex(offset)), ("SIZE", "32"),
                     ("ACCESS", "read-write"), ("IS_ENABLED", "true"), ("RESET_VALUE", "0")):
            ET.SubElement(r, "PROPERTY", NAME=k, VALUE=v)
        if fields:
            fs = ET.SubElement(r, "FIELDS")
            for fname, lsb, width in fields:
                f = ET.SubElement(fs, "FIELD", NAME=fname)
                for k, v in (("DESCRIPTION", fname), ("ACCESS", "read-write"),
                             ("BIT_OFFSET", str(lsb)), ("BIT_WIDTH", str(width))):
                    ET.SubElement(f, "PROPERTY", NAME=k, VALUE=v)


def _module_element(mods: ET.Element, m: Module, modules: list[Module], clk: float) -> None:
    """One MODULE of the handoff: parameters, registers, ports, bus interfaces, memory map."""
    attrs = {"FULLNAME": f"/{m.instance}", "INSTANCE": m.instance, "IPTYPE": "PERIPHERAL",
             "IS_ENABLE": "1", "MODTYPE": m.modtype, "VLNV": m.vlnv}
    if not m.is_pl:
        attrs["IS_PL"] = "FALSE"
    mod = ET.SubElement(mods, "MODULE", attrs)
    ps = ET.SubElement(mod, "PARAMETERS")
    for k, v in m.params.items():
        ET.SubElement(ps, "PARAMETER", NAME=k, VALUE=v)
    if m.registers:
        _add_registers(mod, *m.registers)
    _ports(ET.SubElement(mod, "PORTS"), m, modules, clk)
    _bus_interfaces(ET.SubElement(mod, "BUSINTERFACES"), m, clk)
    if m.memranges:
        mm = ET.SubElement(mod, "MEMORYMAP")
        for r in m.memranges:
            ET.SubElement(mm, "MEMRANGE", r)


def _ports(ports: ET.Element, m: Module, modules: list[Module], clk: float) -> None:
    """A module's clock port (the PS drives pl_clk0 to every PL clock input) and its bus
    signals, each connected to the peer's signal of the same logical name."""
    by_name = {x.instance: x for x in modules}
    if m.clock_in:
        p = ET.SubElement(ports, "PORT", CLKFREQUENCY=str(int(round(clk * 1e6))), DIR="I",
                          NAME=m.clock_in, SIGIS="clk", SIGNAME=f"{bd.PS}_pl_clk0")
        ET.SubElement(ET.SubElement(p, "CONNECTIONS"), "CONNECTION", INSTANCE=bd.PS, PORT="pl_clk0")
    else:
        p = ET.SubElement(ports, "PORT", CLKFREQUENCY=str(int(round(clk * 1e6))), DIR="O",
                          NAME="pl_clk0", SIGIS="clk", SIGNAME=f"{bd.PS}_pl_clk0")
        cs = ET.SubElement(p, "CONNECTIONS")
        for other in modules:
            if other.clock_in:
                ET.SubElement(cs, "CONNECTION", INSTANCE=other.instance, PORT=other.clock_in)
    for b in m.buses:
        peer = by_name[b.peer[0]]
        pb = next(x for x in peer.buses if x.name == b.peer[1])
        for logical, direction, width in b.signals():
            attrs = {"DIR": direction, "NAME": b.physical(logical), "SIGIS": "undef"}
            if width > 1:
                attrs.update(LEFT=str(width - 1), RIGHT="0")
            driver = (m, b) if direction == "O" else (peer, pb)
            attrs["SIGNAME"] = f"{driver[0].instance}_{driver[1].physical(logical)}"
            p = ET.SubElement(ports, "PORT", attrs)
            ET.SubElement(ET.SubElement(p, "CONNECTIONS"), "CONNECTION", INSTANCE=peer.instance,
                          PORT=pb.physical(logical))


def _bus_interfaces(bis: ET.Element, m: Module, clk: float) -> None:
    for b in m.buses:
        vlnv = "xilinx.com:interface:aximm:1.0" if b.kind == "aximm" else "xilinx.com:interface:axis:1.0"
        bi = ET.SubElement(bis, "BUSINTERFACE", BUSNAME=f"{m.instance}_{b.name}", NAME=b.name,
                           TYPE="MASTER" if b.master else "SLAVE", VLNV=vlnv)
        bp = ET.SubElement(bi, "PARAMETERS")
        ET.SubElement(bp, "PARAMETER", NAME="FREQ_HZ", VALUE=str(int(round(clk * 1e6))))
        pms = ET.SubElement(bi, "PORTMAPS")
        for logical, _, width in b.signals():
            attrs = {"LOGICAL": logical, "PHYSICAL": b.physical(logical)}
            if width > 1:
                attrs.update(LEFT=str(width - 1), RIGHT="0")
            ET.SubElement(pms, "PORTMAP", attrs)


def hwh_text(part: str, clock_mhz: float, design: str = "vargnet") -> str:
    """The handoff XML of the block design for a part (e.g. the ZCU104's xczu7ev-ffvc1156-2-e)
    and the PL clock the build asked for."""
    modules = [_ps(clock_mhz), _dma(), _accel(), *_interconnects()]
    _, _, clk = pl_clock_divisors(clock_mhz)
    root = ET.Element("EDKSYSTEM", EDWVERSION="1.2", TIMESTAMP="simulated", VIVADOVERSION="2024.2")
    dev, pkg, speed = (part.split("-") + ["", "", ""])[:3]
    ET.SubElement(root, "SYSTEMINFO", ARCH="zynquplus", DEVICE=dev.removeprefix("x"), NAME=design,
                  PACKAGE=pkg, SPEEDGRADE=f"-{speed}")
    ET.SubElement(root, "EXTERNALPORTS")
    ET.SubElement(root, "EXTERNALINTERFACES")
    mods = ET.SubElement(root, "MODULES")
    for m in modules:
        _module_element(mods, m, modules, clk)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n' + ET.tostring(root, "unicode") + "\n"
