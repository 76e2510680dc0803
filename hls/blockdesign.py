"""The Vivado block design every build creates, as data: instance names, bus names, the
AXI-lite address map and the accelerator's control register. One definition used by the
Vivado Tcl (flow/tcl.py assigns these addresses), the board driver (host/backends.py finds
the IPs by these names) and the simulated board's hardware handoff (host/hwh.py).

    zynq_ps (zynq_ultra_ps_e) --M_AXI_HPM0_FPD--> ps_axi_periph --> axi_dma/S_AXI_LITE
                                                                 --> vargnet/s_axi_control
    axi_dma/M_AXIS_MM2S --> vargnet/in_r ; vargnet/out_r --> axi_dma/S_AXIS_S2MM
    axi_dma/M_AXI_MM2S, M_AXI_S2MM --> axi_mem_intercon --> zynq_ps/S_AXI_HP0_FPD (PS DDR)
    vargnet/m_axi_gmem<i> (a node reading its weights from DDR) --> axi_mem_intercon

Standard library only.
"""

from __future__ import annotations

PS = "zynq_ps"
DMA = "axi_dma"
ACCEL = "vargnet"
PERIPH_INTERCONNECT = "ps_axi_periph"
MEM_INTERCONNECT = "axi_mem_intercon"

# M_AXI_HPM0_FPD's window starts at 0xA000_0000 on Zynq UltraScale+; 64 KiB per slave.
DMA_BASE = 0xA000_0000
ACCEL_BASE = 0xA001_0000
SLAVE_RANGE = 0x1_0000
DDR_LOW = (0x0000_0000, 0x7FFF_FFFF)  # S_AXI_HP0_FPD's HP0_DDR_LOW segment

# AXI DMA configuration (simple mode, no scatter-gather, 32-bit streams: one beat per pixel
# in, one per output channel out; see hls/accel.py for the packing).
DMA_CONFIG = {"c_include_sg": 0, "c_sg_length_width": 26, "c_m_axis_mm2s_tdata_width": 32,
              "c_s_axis_s2mm_tdata_width": 32, "c_mm2s_burst_size": 64, "c_s2mm_burst_size": 64}

# The AXI DMA registers the driver and the simulated board use (PG021, simple mode). The S2MM
# channel's registers have the MM2S layout, DMA_S2MM higher.
DMA_REGS = {"MM2S_DMACR": 0x00, "MM2S_DMASR": 0x04, "MM2S_SA": 0x18, "MM2S_SA_MSB": 0x1C,
            "MM2S_LENGTH": 0x28, "S2MM_DMACR": 0x30, "S2MM_DMASR": 0x34, "S2MM_DA": 0x48,
            "S2MM_DA_MSB": 0x4C, "S2MM_LENGTH": 0x58}
DMA_S2MM = 0x30

# The HLS block-level control (ap_ctrl_hs on s_axi_control): register 0x00.
AP_CTRL = 0x00
AP_START, AP_DONE, AP_IDLE, AP_READY, AUTO_RESTART = 0x01, 0x02, 0x04, 0x08, 0x80

# Each AXI4 master of the design (hls/params_buffer.py masters: a DDR node's own, in
# description order, then the URAM caches' loader) is m_axi_gmem<i>, i its place in that list,
# with the address it reads from (the node's region; the first cache's region) in
# s_axi_control: Vitis HLS lays the control registers out as
# ap_ctrl (0x00), GIE, IER, ISR (0x04..0x0c), then each 64-bit pointer argument in argument
# order as two data words and a reserved one (the csynth report's register map confirms).
DDR_MASTER = "m_axi_gmem{}"
DDR_POINTER_BASE, DDR_POINTER_STRIDE = 0x10, 0xC


def ddr_pointer_offset(i: int) -> int:
    """The low word's offset of the i-th master's pointer register (the high word at +4)."""
    return DDR_POINTER_BASE + DDR_POINTER_STRIDE * i


# The load flag (a design with URAM weight caches, memory "uram" on an MVAU): the top's last
# argument, a scalar after the n pointers, one data word and a reserved one. 1: the next frame
# fills the caches from the parameter buffer; the host sets it for the first frame, then 0.
def load_flag_offset(masters: int) -> int:
    return DDR_POINTER_BASE + DDR_POINTER_STRIDE * masters
