"""The host side: the accelerator object with board, C-sim and golden-model backends."""

from host.accelerator import Accelerator, Result, Timing  # noqa: F401
