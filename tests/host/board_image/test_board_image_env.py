"""The host environment mirrors a PYNQ board image: pynq 4.0.0, numpy < 2, no torch/FINN.

Runs only in .venv-host (`make test` excludes this folder from the toolchain run)."""

import importlib.util

import numpy as np


def test_numpy_is_1x_like_the_board_image():
    assert int(np.__version__.split(".")[0]) == 1


def test_pynq_4_imports_and_sees_no_board_here():
    import pynq

    assert pynq.__version__ == "4.0.0"
    assert pynq.Device.devices == []


def test_no_torch_or_finn_in_the_host_environment():
    for name in ("torch", "brevitas", "finn", "qonnx"):
        assert importlib.util.find_spec(name) is None, name
