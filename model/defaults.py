"""The default design's architecture and quantization (one definition for the flow, the
simulator, the demo and the notebook)."""

from model.arch import Arch, vargfacenet
from model.quant import QuantConfig

DEFAULT_BOARD = "zcu104"
DEFAULT_FPS_TARGET = 1000.0  # the accelerator issue's target at 200 MHz


def default_arch() -> Arch:
    # the trained default design (model/checkpoints/default.pt, `make train`): VarGFaceNet at
    # width 0.25 (channels 8/16/32/64), 112x112, the official embedding setting
    # (last_channels 1024, 512-d); the full-size network is `build("vargfacenet")`
    return vargfacenet(0.25)


def default_quant() -> QuantConfig:
    # 4-bit weights and activations in the body (8-bit activations would need 255
    # thresholds per channel, ~10x the threshold memory), 8-bit first and last layers;
    # scales trained from an MSE start (the hardware sees only the constants)
    return QuantConfig(weight_bits=4, act_bits=4, scaling="mse")
