"""Shared test helpers. Imported by both environments: numpy and the standard library only."""

from __future__ import annotations

import os
import shutil

import pytest

# Under pytest-xdist (make test runs one worker a core) each worker's torch and OpenMP take
# one thread: two workers of two threads each on two cores ran the training tests 2-5x slower
# than alone. Set before any test module imports torch; subprocesses inherit it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def require_tool(name: str, why: str) -> str:
    """Path of an optional external tool; skips (with the reason) when it is missing.

    In CI (CI=true) a missing tool is a failure instead: CI's setup installs every tool.
    """
    path = shutil.which(name)
    if path is None:
        msg = f"{name} not installed ({why}); `make setup` installs it when run as root"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must not skip: {msg}")
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory):
    """The tiny VarGFaceNet flow build (net, faces, BuildResult), built once per session and
    shared by test_flow and test_reliability (toolchain environment: imported lazily)."""
    from tests.flow_builds import tiny_flow_build

    return tiny_flow_build(tmp_path_factory.mktemp("flow"))
