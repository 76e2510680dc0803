"""Every input checked at the door: damaged design files and checkpoints, parameters the
backends must refuse alike, build folders that are not ours, bad numbers on the command
lines, bad description fields, damaged compiler caches. Each ends in a clear error naming the
problem, or in the clean result; never a crash, a traceback from a library or a wrong output."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hls.accel import Accelerator as Description  # noqa: E402
from hls.accel import DescriptionError  # noqa: E402
from flow.build import BuildConfig, BuildError, build  # noqa: E402
from hls.design_files import DesignFileError, load_params  # noqa: E402
from model.orl import HELDOUT_IDS, load_orl  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tiny_build):
    """The folder holding the shared tiny build (build/) and its checkpoint (ck.pt): the
    same build test_flow verifies, with requantized nodes and two nodes read from DDR."""
    return tiny_build[2].out.parent


def _faces(build_dir: Path, n: int = 2) -> np.ndarray:
    h, w, c = Description.load(build_dir).input["shape"]
    x, _ = load_orl(HELDOUT_IDS[:n], h, per_id=1)
    return x[..., :c]


# ---- the corruption fuzz -----------------------------------------------------------------------------
def test_every_damaged_file_of_a_build_and_a_checkpoint_is_refused_by_name_or_harmless(tiny):
    from tests.fuzz_design import fuzz_build, fuzz_checkpoint, table

    x = _faces(tiny / "build")
    cases = fuzz_build(tiny / "build", x) + fuzz_checkpoint(tiny / "ck.pt", x)
    bad = [c for c in cases if c.outcome in ("WRONG OUTPUT", "UNCLEAR ERROR")]
    assert not bad, table(cases) + "\n" + "\n".join(f"{c.file} {c.kind}: {c.outcome} {c.detail}" for c in bad)
    assert len(cases) > 1000
    # what the host reads is guarded: every damaged parameter file is refused
    assert all(c.outcome == "error" for c in cases if c.file.startswith(("weights/", "thresholds/")))
    assert all(c.outcome == "error" for c in cases if c.target == "checkpoint" and not
               (c.deliberate and c.kind == "wrong dtype"))  # float64 weights: the same network


# ---- one loader, the same answer on every backend ---------------------------------------------------
def _thresholds_form(acc, params, name):
    """A copy of acc and params with node `name` on thresholds (the ones its requantization
    equals, if the flow gave it one)."""
    from dataclasses import replace

    from hls.accel import engine_params

    acc = Description.from_dict(acc.to_dict(), acc.root)
    n = acc.node(name)
    e = n.engine()
    a = e.activation()
    if a.pieces:
        n.params = engine_params(replace(e, requant=0, rq_shift=0, rq_bits=0))
        params = {k: dict(v) for k, v in params.items()}
        params[name]["thresholds"] = a.thresholds_of(params[name]["thresholds"])
    return acc, params


def _corruptions(acc, params):
    """(what, description, params, message) each backend must refuse alike."""
    mv = next(n.name for n in acc.nodes if n.kind == "mvau" and "thresholds" in params.get(n.name, {}))
    el = next(n.name for n in acc.nodes if n.kind in ("add", "threshold") and n.name in params)
    rq = next(n.name for n in acc.nodes if n.engine().activation() and n.engine().activation().pieces)
    acc_t, params_t = _thresholds_form(acc, params, el)

    def edit(p, node, key, fn):
        p = {k: dict(v) for k, v in p.items()}
        if fn is None:
            del p[node][key]
        else:
            p[node][key] = fn(p[node][key])
        return p

    return [
        ("weights x 10 beyond their datatype", acc, edit(params, mv, "weights", lambda w: w.astype(np.int64) * 10 + 100),
         "outside int"),
        ("weights as float", acc, edit(params, mv, "weights", lambda w: w.astype(np.float32)), "dtype float32"),
        ("weights flattened", acc, edit(params, mv, "weights", lambda w: w.reshape(-1)), "shape"),
        ("weights missing", acc, edit(params, mv, "weights", None), "missing"),
        ("thresholds one column short", acc_t, edit(params_t, el, "thresholds", lambda t: t[:, :-1]), "shape"),
        ("thresholds reversed", acc_t, edit(params_t, el, "thresholds", lambda t: t[:, ::-1]), "not sorted"),
        ("thresholds as float", acc_t, edit(params_t, el, "thresholds", lambda t: t.astype(np.float64)),
         "dtype float64"),
        ("requantization with M = 0", acc,
         edit(params, rq, "thresholds", lambda t: np.where(np.arange(t.shape[1]) == 0, 0, t)),
         "multiplier M of channel 0 is below 1"),
    ]


def test_golden_and_csim_accept_and_refuse_the_same_parameters(tiny):
    from hls.csim_net import NetworkCsim
    from sim.golden import GoldenModel

    acc = Description.load(tiny / "build")
    params = load_params(acc)
    x = _faces(tiny / "build")
    assert np.array_equal(GoldenModel(acc, params).run(x), NetworkCsim(acc, params).run(x))
    for what, desc, bad, msg in _corruptions(acc, params):
        errors = []
        for backend in (GoldenModel, NetworkCsim):
            with pytest.raises(DesignFileError, match=msg) as e:
                backend(desc, bad)
            errors.append(str(e.value))
        assert errors[0] == errors[1], what


def test_an_empty_batch_is_refused_alike_on_every_backend(tiny):
    from host import Accelerator
    from hls.packing import PackingError

    empty = np.zeros((0, *Description.load(tiny / "build").input["shape"]), np.uint8)
    msgs = []
    for b in ("golden", "csim"):
        with pytest.raises(PackingError, match="empty") as e:
            Accelerator(tiny / "build", backend=b).infer(empty)
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]


# ---- build folders ------------------------------------------------------------------------------------
def test_a_folder_that_is_not_a_build_is_refused_and_kept(tiny, tmp_path):
    user = tmp_path / "mine"
    (user / "sub").mkdir(parents=True)
    (user / "notes.txt").write_text("keep me")
    (user / "sub" / "data.csv").write_text("1,2\n")
    with pytest.raises(BuildError, match="not a build folder"):
        build(BuildConfig(out=user, checkpoint=tiny / "ck.pt", fps=20000, verify_images=0))
    assert (user / "notes.txt").read_text() == "keep me" and (user / "sub" / "data.csv").is_file()
    f = tmp_path / "a_file"
    f.write_text("x")
    with pytest.raises(BuildError, match="is a file"):
        build(BuildConfig(out=f, checkpoint=tiny / "ck.pt", fps=20000, verify_images=0))
    assert f.read_text() == "x"


def test_a_failed_build_leaves_no_partial_folder(tmp_path):
    bad = tmp_path / "bad.qonnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(Exception):
        build(BuildConfig(out=tmp_path / "b", onnx=bad, fps=20000, verify_images=0))
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.partial").exists()


def test_bitstream_refuses_a_design_over_its_budget_before_the_vendor_tools(tiny, tmp_path, capsys):
    from flow.__main__ import main

    rc = main(["bitstream", "--checkpoint", str(tiny / "ck.pt"), "--fps", "20000", "--fraction", "0.01",
               "--verify-images", "0", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert rc == 2 and "does not fit 1% of zcu104" in err and "Nothing was handed" in err


def test_the_demo_and_the_bitstream_build_into_different_folders():
    from flow.__main__ import default_out

    assert default_out("build", "zcu104").name == "default"  # the demo's design (host/demo.py)
    assert default_out("bitstream", "zcu104").name == "bitstream-zcu104"


# ---- numbers on the command lines -------------------------------------------------------------------
@pytest.mark.parametrize("cli,argv,message", [
    ("flow", ["build", "--onnx", "m.qonnx", "--fps", "0"], "--fps: must be a finite number > 0"),
    ("flow", ["build", "--onnx", "m.qonnx", "--fps", "nan"], "not a finite number"),
    ("flow", ["build", "--onnx", "m.qonnx", "--fraction", "1.5"], "--fraction: must be a fraction in (0, 1]"),
    ("flow", ["build", "--onnx", "m.qonnx", "--clock-mhz", "-1"], "--clock-mhz: must be a finite number > 0"),
    ("sim", ["--clock-mhz", "-100"], "--clock-mhz: must be a finite number > 0"),
    ("sim", ["--frames", "0"], "--frames: must be an integer >= 1"),
    ("compare", ["--design", "d", "--images", "-3"], "--images: must be an integer >= 1"),
    ("train", ["--out", "r", "--epochs", "0"], "--epochs: must be an integer >= 1"),
    ("train", ["--out", "r", "--lr", "-0.001"], "--lr: must be a finite number > 0"),
])
def test_bad_numbers_are_refused_where_they_are_parsed(cli, argv, message, capsys):
    import importlib.util

    if cli == "flow":
        from flow.__main__ import main as run
    elif cli == "sim":
        spec = importlib.util.spec_from_file_location("sim_run", Path(__file__).resolve().parents[1] / "sim" / "run.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        run = mod.main
    elif cli == "compare":
        from host.compare import main as run
    else:
        from model.train import parse as run
    with pytest.raises(SystemExit) as e:
        run(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_an_option_the_simulator_would_ignore_is_refused(tiny, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("sim_run", Path(__file__).resolve().parents[1] / "sim" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--design", str(tiny / "build"), "--fps", "300"]) == 2
    assert "--fps only apply to --model" in capsys.readouterr().err


# ---- description fields --------------------------------------------------------------------------------
@pytest.mark.parametrize("path,value,message", [
    (("clock_mhz",), "fast", "clock_mhz = 'fast': must be a finite number > 0"),
    (("clock_mhz",), 0, "clock_mhz = 0"),
    (("input", "shape"), "112", "input.shape = '112'"),
    (("output", "channels"), True, "output.channels = True"),
    (("streams", 0, "depth"), 0, "depth = 0: must be an integer >= 1"),
    (("nodes", 0, "params", "ifm_h"), 7.5, "params.ifm_h = 7.5 must be an integer"),
    (("nodes", 0, "memory"), "flash", "memory = 'flash'"),
])
def test_a_description_field_of_the_wrong_type_or_range_is_named(tiny, path, value, message):
    d = json.loads((tiny / "build" / "accelerator.json").read_text())
    o = d
    for k in path[:-1]:
        o = o[k]
    o[path[-1]] = value
    with pytest.raises(DescriptionError) as e:
        Description.from_dict(d)
    assert message in str(e.value)


# ---- compiler caches and the compiler ---------------------------------------------------------------
def test_a_damaged_cached_library_is_rebuilt_not_loaded():
    import ctypes

    from hls.csim import build_shared, compile_flags

    src = 'extern "C" int vg_answer() { return 4242; }\n'
    so = build_shared(src, compile_flags(), tag="cache-test")
    so.write_bytes(so.read_bytes()[:100])  # a truncated copy would end the process with SIGBUS
    so2 = build_shared(src, compile_flags(), tag="cache-test")
    assert so2 == so and ctypes.CDLL(str(so2)).vg_answer() == 4242


def test_a_missing_compiler_is_named(monkeypatch):
    import hls.csim as csim

    monkeypatch.setattr(csim, "CXX", "no-such-gxx")
    with pytest.raises(csim.CsimError, match="no-such-gxx: no C\\+\\+ compiler"):
        csim.build_shared('extern "C" int f() { return 1; }\n', csim.compile_flags(), tag="nocxx")
