"""Vitis HLS and Vivado Tcl for a build: HLS synthesis and IP export of the generated top, then
a Zynq UltraScale+ MPSoC block design (PS, AXI DMA, the accelerator), implementation and
bitstream. Written by the flow; run only where the AMD tools are installed."""

from __future__ import annotations

from hls import blockdesign as bd
from hls.accel import Accelerator
from hls.boards import Board
from hls.params_buffer import masters

HLS_VERSION = "2024.2"  # the tool versions the scripts were written for (bitstreams/README.md)


def hls_tcl(acc: Accelerator, board: Board, clock_mhz: float, include_dir: str) -> str:
    from hls.params_buffer import FILE, size

    period = 1000.0 / clock_mhz
    # the parameter buffer the AXI masters read, where nodes read their weights from DDR
    params_arg = f" [file normalize {FILE}]" if size(acc) else ""
    return f"""# Vitis HLS {HLS_VERSION}: C-simulate, synthesise and export the accelerator as IP.
# Run from the build folder: vitis_hls -f tcl/hls.tcl
# csim_design and cosim_design run the testbench hls/tb_top.cpp on the packed ORL faces the
# flow verified (hls/tb_input.bin) against the golden model's beats (hls/tb_expected.bin).
# C/RTL co-simulation of the whole network takes hours: it runs only with VG_COSIM=1 set.
set tb_args "[file normalize hls/tb_input.bin] [file normalize hls/tb_output.bin] [file normalize hls/tb_expected.bin]{params_arg}"
open_project -reset hls_project
set_top vargnet_top
add_files hls/top.cpp -cflags "-I{include_dir} -Ihls"
add_files -tb hls/tb_top.cpp -cflags "-I{include_dir} -Ihls"
open_solution -reset sol1 -flow_target vivado
set_part {board.part}
create_clock -period {period:.3f} -name default
config_dataflow -default_channel fifo
csim_design -argv $tb_args
csynth_design
if {{[info exists ::env(VG_COSIM)] && $::env(VG_COSIM) == 1}} {{
  cosim_design -argv $tb_args
}}
export_design -format ip_catalog -vendor vargnet -library hls -ipname vargnet_top -version 1.0
exit
"""


def vivado_tcl(acc: Accelerator, board: Board, clock_mhz: float, out_dir: str) -> str:
    dma_config = " ".join(f"CONFIG.{k} {{{v}}}" for k, v in bd.DMA_CONFIG.items())
    # each AXI4 master (a DDR node's, the cache loader) reads the parameter buffer through the same HP port
    ddr_masters = "".join(
        f'apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config {{{{Slave "/{bd.PS}/S_AXI_HP0_FPD"}}}} '
        f"[get_bd_intf_pins {bd.ACCEL}/{bd.DDR_MASTER.format(i)}]\n"
        for i, _ in enumerate(masters(acc)))
    return f"""# Vivado {HLS_VERSION}: block design (Zynq UltraScale+ PS, AXI DMA, accelerator),
# implementation and bitstream. Run from the build folder after tcl/hls.tcl:
#   vivado -mode batch -source tcl/vivado.tcl
create_project -force vivado_project vivado_project -part {board.part}
set_property board_part {board.vivado_board_part} [current_project]
set_property ip_repo_paths [list hls_project/sol1/impl/ip] [current_project]
update_ip_catalog
create_bd_design "vargnet"
set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:zynq_ultra_ps_e {bd.PS}]
apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config {{{{apply_board_preset "1"}}}} $ps
set_property -dict [list CONFIG.PSU__USE__S_AXI_GP2 {{{{1}}}} CONFIG.PSU__USE__M_AXI_GP0 {{{{1}}}} \\
  CONFIG.PSU__FPGA_PL0_ENABLE {{{{1}}}} CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {{{{{clock_mhz:g}}}}}] $ps
set dma [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma {bd.DMA}]
set_property -dict [list {dma_config}] $dma
set acc [create_bd_cell -type ip -vlnv vargnet:hls:vargnet_top:1.0 {bd.ACCEL}]
connect_bd_intf_net [get_bd_intf_pins {bd.DMA}/M_AXIS_MM2S] [get_bd_intf_pins {bd.ACCEL}/in_r]
connect_bd_intf_net [get_bd_intf_pins {bd.ACCEL}/out_r] [get_bd_intf_pins {bd.DMA}/S_AXIS_S2MM]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config {{{{Master "/{bd.PS}/M_AXI_HPM0_FPD"}}}} [get_bd_intf_pins {bd.DMA}/S_AXI_LITE]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config {{{{Master "/{bd.PS}/M_AXI_HPM0_FPD"}}}} [get_bd_intf_pins {bd.ACCEL}/s_axi_control]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config {{{{Slave "/{bd.PS}/S_AXI_HP0_FPD"}}}} [get_bd_intf_pins {bd.DMA}/M_AXI_MM2S]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config {{{{Slave "/{bd.PS}/S_AXI_HP0_FPD"}}}} [get_bd_intf_pins {bd.DMA}/M_AXI_S2MM]
{ddr_masters}# the addresses the host's handoff model and drivers expect (hls/blockdesign.py)
set_property offset {bd.DMA_BASE:#010x} [get_bd_addr_segs /{bd.PS}/Data/SEG_{bd.DMA}_Reg]
set_property offset {bd.ACCEL_BASE:#010x} [get_bd_addr_segs /{bd.PS}/Data/SEG_{bd.ACCEL}_Reg]
validate_bd_design
save_bd_design
make_wrapper -files [get_files vargnet.bd] -top
add_files -norecurse vivado_project/vivado_project.gen/sources_1/bd/vargnet/hdl/vargnet_wrapper.v
set_property top vargnet_wrapper [current_fileset]
launch_runs impl_1 -to_step write_bitstream -jobs 4
wait_on_run impl_1
file mkdir {out_dir}
file copy -force vivado_project/vivado_project.runs/impl_1/vargnet_wrapper.bit {out_dir}/vargnet.bit
file copy -force vivado_project/vivado_project.gen/sources_1/bd/vargnet/hw_handoff/vargnet.hwh {out_dir}/vargnet.hwh
file copy -force accelerator.json {out_dir}/accelerator.json
exit
"""
