"""model/random_init.py: an untrained quantized network for building designs of any size."""

from __future__ import annotations

import torch

from model.checkpoint import load_net
from model.random_init import main


def test_random_checkpoint_loads_marked_untrained_with_calibrated_batchnorm(tmp_path):
    out = tmp_path / "ck.pt"
    assert main(["--model", "vargfacenet", "--width", "0.25", "--input", "32", "--out", str(out)]) == 0
    net, extra = load_net(out)
    assert extra["untrained"] is True and net.quant_config is not None
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    # calibrated on faces: the statistics moved away from their initial 0 / 1
    assert bns and all(not torch.allclose(m.running_var, torch.ones_like(m.running_var)) for m in bns)


def test_bad_options_are_named(tmp_path, capsys):
    assert main(["--width", "0.3", "--out", str(tmp_path / "x.pt")]) == 2
    assert "not an integer" in capsys.readouterr().err
    assert main(["--quant", "float", "--out", str(tmp_path / "x.pt")]) == 2
    assert "no hardware" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
