"""The compile flow: a quantized model (checkpoint or QONNX export) -> one build folder.

An --out that is a file, or a folder the flow did not write, is refused before any work. The
build is written into <out>.partial and replaces <out> only when its steps are done (a failed
build removes its partial folder). The steps are flow/steps.py's list (load, check_folding,
fold, streamline, write, generate_hls, estimate, verify), each with a progress line and its
seconds in time_per_step.json; `stop_step` ends a build early (the folder then holds what
the steps so far wrote), `start_step` runs the rest on such a folder. Last, manifest.json,
the sha256 of every file (hls/design_files.py): the host refuses a build folder whose files
differ from it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from flow.folding import load_folding
from flow.steps import FOLDED, NAMES, STEP_FILE, BuildError, BuildState, StepError, run_steps, step_range
from flow.streamline import IntegerLayers
from hls.accel import SCHEMA, Accelerator
from hls.boards import get_board
from hls.design_files import write_manifest


@dataclass
class BuildConfig:
    out: Path
    checkpoint: Optional[Path] = None
    onnx: Optional[Path] = None
    board: str = "zcu104"
    clock_mhz: Optional[float] = None
    fps: Optional[float] = None  # None: the highest FPS within `fraction` of the board
    fraction: float = 0.8
    folding: Optional[Path] = None
    verify_images: int = 4
    finn_report: bool = True
    weights_header: bool = True
    requant: str = "auto"  # activation form per node: auto | always | off (flow/requantize.py)
    # the blocks the shared block engine runs (flow/partition.py): stage or block names, ("auto",)
    # for the flow's search (flow/partition_search.py), () or ("none",) for every layer resident
    shared_stages: tuple[str, ...] = ("auto",)
    shared_gp: Optional[int] = None  # its array's groups (None: the smallest that meets the FPS)
    start_step: Optional[str] = None  # None: the first (flow/steps.py NAMES)
    stop_step: Optional[str] = None  # None: the last


@dataclass
class BuildResult:
    out: Path
    accelerator: Optional[Accelerator]  # None when the build stopped before `fold`
    layers: Optional[IntegerLayers]
    report: dict[str, Any] = field(default_factory=dict)
    steps_done: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return bool(self.steps_done) and self.steps_done[-1] == NAMES[-1]


PARTIAL_MARKER = ".vargnet-partial-build"  # in a build being written (<out>.partial)


def is_build_folder(path: Path) -> bool:
    """A folder the flow wrote: it holds an accelerator description of our schema, or the
    steps record of a build stopped before it wrote one."""
    path = Path(path)
    for f in ("accelerator.json", FOLDED):
        try:
            d = json.loads((path / f).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(d, dict) and d.get("schema") == SCHEMA:
            return True
    try:
        steps = json.loads((path / STEP_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(steps, dict) and bool(steps) and set(steps) <= set(NAMES) \
        and (path / "model.qonnx").is_file()


def check_out(out: Path, resume: bool = False) -> Path:
    """Refuses an --out that is a file or a folder the flow did not write (before any work);
    returns the temporary folder the build is written into (cleared if a crashed build of
    ours left it). `resume`: the build continues an earlier one, so <out> must be one."""
    if out.exists() and not out.is_dir():
        raise BuildError(f"--out {out}: is a file; give a folder for the build")
    if out.is_dir() and any(out.iterdir()) and not is_build_folder(out):
        raise BuildError(f"--out {out}: an existing folder that is not a build folder (no "
                         f"accelerator.json written by the flow); refusing to replace it: choose "
                         f"another --out, or empty or remove it yourself")
    if resume and not is_build_folder(out):
        raise BuildError(f"--out {out}: no earlier build there to start a later step on")
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        if not (tmp / PARTIAL_MARKER).is_file():
            raise BuildError(f"{tmp}: exists and is not a partial build of ours; refusing to remove "
                             f"it (the build is written there before it replaces {out})")
        shutil.rmtree(tmp)
    return tmp


def build(cfg: BuildConfig) -> BuildResult:
    """The steps into <out>.partial (a resumed build starts from a copy of <out>), then, with
    the manifest written, in place of <out>; a failed build removes its partial folder."""
    out = Path(cfg.out)
    resume = cfg.start_step not in (None, NAMES[0])
    try:
        steps = [n for n, _ in step_range(cfg.start_step, cfg.stop_step)]
    except StepError as e:
        raise BuildError(str(e)) from None
    tmp = check_out(out, resume)
    board = get_board(cfg.board)
    user = load_folding(cfg.folding) if cfg.folding else None
    if resume:
        shutil.copytree(out, tmp)
        (tmp / "manifest.json").unlink(missing_ok=True)
    else:
        tmp.mkdir(parents=True)
    (tmp / PARTIAL_MARKER).write_text("a build in progress; removed when it ends\n")
    try:
        st = BuildState(tmp, board, cfg.clock_mhz or board.clock_mhz, out.name, user)
        try:
            st = run_steps(st, cfg, cfg.start_step, cfg.stop_step)
        except StepError as e:
            raise BuildError(str(e)) from None
        (tmp / PARTIAL_MARKER).unlink()
        write_manifest(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.with_name(out.name + ".old")
    if out.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
    if st.acc is not None:
        st.acc.root = out
    return BuildResult(out, st.acc, st.layers, st.report, steps)
