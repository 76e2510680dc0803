"""Where the HLS sources and the ap_types headers are (located from installed packages)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

HLS_DIR = Path(__file__).resolve().parent
INCLUDE_DIR = HLS_DIR / "include"
TB_DIR = HLS_DIR / "tb"


def ap_types_dir() -> Path:
    """The Xilinx arbitrary-precision headers shipped in the hls4ml package (not vendored)."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the hls4ml package is not installed; it provides the ap_types headers for C-sim "
            "(run `make setup`, or `pip install --no-deps hls4ml==1.3.0`)"
        )
    d = Path(spec.origin).parent / "templates" / "vivado" / "ap_types"
    if not (d / "ap_int.h").is_file():
        raise FileNotFoundError(f"hls4ml is installed but {d} has no ap_int.h")
    return d
