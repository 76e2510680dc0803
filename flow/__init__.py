"""The flow: a trained quantized model -> an accelerator description, its HLS C++ and
reports, and the vendor-tool step. Its public API, for the packages above it (host) and for
the simulator's fold-from-architecture mode (sim/run.py, sim/bench.py),
which may use these names and nothing else of flow (tests/test_layering.py):"""

from flow.agreement import layer_agreement, totals
from flow.build import BuildConfig, BuildError, build
from flow.folding import (FoldingError, check_folding, fold_and_size, fold_for_board, fold_for_fps, load_folding,
                          mac_fixed)
from flow.partition import AUTO, PartitionError, SharedChoice, choice as shared_choice
from flow.partition_search import resolve as resolve_partition
from flow.requantize import ASSUMED_TABLE_EXTRA_BITS, assume as assume_requant

__all__ = ["BuildConfig", "BuildError", "build", "layer_agreement", "totals", "FoldingError",
           "check_folding", "fold_and_size", "fold_for_board", "fold_for_fps", "load_folding", "mac_fixed",
           "ASSUMED_TABLE_EXTRA_BITS", "assume_requant", "AUTO", "PartitionError", "SharedChoice",
           "shared_choice", "resolve_partition"]
