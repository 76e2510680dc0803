"""One Python class per HLS engine kind, registered by the kind string of the accelerator
description (hls/engines/base.py says what a kind answers for). Importing this package
registers the built-in kinds: swg, mvau, threshold, add, pool, se_scale, duplicate,
width_convert. The formulas follow the loop structure of hls/include/*.h (one pipelined
iteration = one cycle); the schedule check (hls/schedule.py) counts them in the C++."""

from hls.engines.base import (NO_ACTIVATION, REGISTRY, S, STORAGE_CODES, TYPE_FIELDS, CppType, Engine, EngineError, IntType, JobRun, ParamSpecs,
                              Ports, Process, acc_bits, clog2, config_struct, engine_class,
                              kinds, legal_foldings, register, threshold_out,
                              weight_type, word_type)
from hls.engines.activation import Activation
from hls.engines.swg import SWG
from hls.engines.mvau import MVAU
from hls.engines.lanes import (Add, Duplicate, Eltwise, LaneEngine, Pool, SEScale, Threshold,
                               Thresholded)
from hls.engines.width import WidthConvert

__all__ = ["Activation", "NO_ACTIVATION", "REGISTRY", "S", "STORAGE_CODES", "TYPE_FIELDS", "CppType", "Engine", "EngineError", "IntType", "JobRun", "ParamSpecs",
           "Ports", "Process", "acc_bits", "clog2", "config_struct", "engine_class",
           "kinds", "legal_foldings", "register", "threshold_out", "weight_type", "word_type", "SWG", "MVAU", "Add",
           "Duplicate", "Eltwise", "LaneEngine", "Pool", "SEScale", "Threshold", "Thresholded",
           "WidthConvert"]
