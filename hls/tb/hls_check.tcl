# Vitis HLS 2024.2: C simulation, C synthesis and C/RTL co-simulation of one engine's check
# instance (hls/vendor_check.py writes <engine>_top.cpp / _top.h / _tb.cpp and runs this):
#   vitis_hls -f hls/tb/hls_check.tcl -tclargs WORK ENGINE PART PERIOD_NS INCLUDE_DIR COSIM
# Reports: WORK/proj_ENGINE/sol/syn/report/check_top_csynth.xml and
#          WORK/proj_ENGINE/sol/sim/report/check_top_cosim.rpt
set work [lindex $argv 0]
set engine [lindex $argv 1]
set part [lindex $argv 2]
set period [lindex $argv 3]
set inc [lindex $argv 4]
set cosim [lindex $argv 5]
cd $work
open_project -reset proj_$engine
set_top check_top
add_files ${engine}_top.cpp -cflags "-std=c++14 -I$inc -I$work"
add_files -tb ${engine}_tb.cpp -cflags "-std=c++14 -I$inc -I$work"
open_solution -reset sol -flow_target vivado
set_part $part
create_clock -period $period -name default
csim_design
csynth_design
if {$cosim == 1} {
  cosim_design
}
exit
