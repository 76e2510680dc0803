"""The toolchain environment holds the pinned versions the project depends on."""

import importlib.metadata as md
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lock_pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            k, v = line.split("==", 1)
            pins[k.strip().lower().replace("_", "-")] = v.strip()
    return pins


def test_torch_is_the_pinned_cpu_build():
    import torch

    assert torch.__version__.startswith("2.13.0")
    assert not torch.version.cuda, "a CUDA torch build replaced the CPU wheel"


@pytest.mark.parametrize("dist,version", [
    ("brevitas", "0.13.4"), ("finn-plus", "1.6.1"), ("qonnx", "1.0.0"),
    ("onnx", "1.21.0"), ("onnxruntime", "1.25.1"), ("hls4ml", "1.3.0"),
])
def test_toolchain_package_versions(dist, version):
    assert md.version(dist) == version


def test_installed_versions_equal_the_lock():
    pins = _lock_pins("toolchain.lock")
    wrong = {}
    for name, want in pins.items():
        have = md.version(name)
        if have != want:
            wrong[name] = (want, have)
    assert not wrong, f"installed versions differ from requirements/toolchain.lock: {wrong}"


def test_ap_types_headers_come_from_the_installed_hls4ml():
    from hls import paths

    inc = paths.ap_types_dir()
    for h in ("ap_int.h", "ap_fixed.h", "hls_stream.h"):
        assert (inc / h).is_file()
    assert "site-packages" in str(inc)


def test_project_packages_import_without_path_hacks():
    import model.arch  # noqa: F401
    import model.summary  # noqa: F401
    spec = __import__("importlib.util").util.find_spec("model")
    assert Path(spec.origin).resolve().parent == ROOT / "model"
