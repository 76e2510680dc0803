"""The compile flow: QONNX export -> integer design -> build folder; the integer chain is
bit-exact (golden model = whole-network C-sim = qonnx execution of the integer graph) and
agrees with Brevitas within the stated tolerance; bad inputs fail early with clear errors."""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import onnx
import pytest
import torch

from hls.accel import Accelerator
from flow.agreement import layer_agreement
from flow.build import BuildConfig, build
from hls.csim_net import NetworkCsim
from hls.csim import compile_flags
from flow.folding import FoldingError, load_folding
from flow.streamline import StreamlineError, load_export
from model.arch import tiny
from model.checkpoint import save
from model.export import export_qonnx
from model.orl import load_orl
from model.quant import QuantConfig
from model.scoring import Wccn
from tests.conftest import require_tool
from tests.flow_builds import calibrated_net
from sim.golden import GoldenModel

warnings.filterwarnings("ignore", category=UserWarning)


def test_build_folder_holds_description_sources_tcl_and_reports(tiny_build):
    _, _, res = tiny_build
    out = res.out
    for f in ("accelerator.json", "model.qonnx", "output_scale.npy", "tail.json", "hls/top.cpp",
              "hls/network.h", "hls/csim_top.cpp", "hls/weights.h", "tcl/hls.tcl", "tcl/vivado.tcl",
              "reports/estimate.json", "reports/finn_estimates.json", "reports/verification.json",
              "params.bin"):
        assert (out / f).is_file(), f
    acc = Accelerator.load(out)
    assert [n.name for n in acc.nodes if n.memory == "ddr"] == ["emb.pw", "fc"]
    assert all((out / n.weights).is_file() for n in acc.nodes if n.weights)
    assert "vargnet_top" in (out / "tcl" / "hls.tcl").read_text()
    assert "xczu7ev" in (out / "tcl" / "hls.tcl").read_text()
    assert "create_clock -period 5.000" in (out / "tcl" / "hls.tcl").read_text()
    sizing = json.loads((out / "reports" / "estimate.json").read_text())["fifo_sizing"]
    assert sizing["rounds"] >= 1 and sizing["fell_back_to_unbounded_peaks"] is False
    assert acc.output["scoring"] == "scoring.npz"
    assert Wccn.load(out / "scoring.npz").dim == acc.output["channels"]
    finn = json.loads((out / "reports" / "finn_estimates.json").read_text())
    assert any(r["finn"] is not None for r in finn) and any(r["note"] == "no FINN model" for r in finn)
    assert not [r for r in finn if r["note"].startswith("FINN error")]  # every op FINN models, FINN took
    # FINN's own analyses see every engine, registered as FINN custom ops (flow/finn_ops.py)
    fa = json.loads((out / "reports" / "finn_analyses.json").read_text())
    assert fa["exp_cycles_per_layer"] == {n.name: n.engine().cycles() for n in acc.nodes}
    assert set(fa["res_estimation"]) == {n.name for n in acc.nodes}


def test_integer_chain_is_bit_exact_on_real_faces(tiny_build):
    _, _, res = tiny_build
    v = json.loads((res.out / "reports" / "verification.json").read_text())
    assert v["csim_equals_golden"] and v["qonnx_integer_graph_equals_golden"]
    assert v["differing_integers_csim"] == 0
    # and again from the files alone, on other faces and random images
    acc = Accelerator.load(res.out)
    g = GoldenModel(acc)
    from hls.design_files import load_params

    net = NetworkCsim(acc, load_params(acc))
    x, _ = load_orl((2, 12, 33), 32, per_id=2)
    x = np.concatenate([x, np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3))])
    assert np.array_equal(net.run(x), g.run(x))


def test_every_integer_layer_equals_its_brevitas_layer_up_to_float_ties(tiny_build):
    """Layer by layer, on the same input codes (the golden model's), each integer layer and
    each step of the SE gate gives Brevitas' codes; a mismatch is allowed only where Brevitas'
    float value lies within float rounding of a quantization boundary (x.5 steps). End to end
    such flips propagate, so the comparison is made per layer (flow/agreement.py)."""
    net, x, res = tiny_build
    acc = Accelerator.load(res.out)
    codes = np.rint(x.numpy() * 255).astype(np.int64).transpose(0, 2, 3, 1)
    rows = layer_agreement(net, acc, codes)
    names = {r.layer for r in rows}
    assert {l.name for l in net.arch.layers if l.op in ("conv", "add", "se")} <= names
    assert any(r.op == "gate" for r in rows) and any(r.op == "fc" for r in rows)
    assert all(r.off_tie == 0 for r in rows), [r for r in rows if r.off_tie]
    assert sum(r.mismatched for r in rows) <= 1e-3 * sum(r.codes for r in rows)


def test_agreement_cli_prints_and_writes_the_per_layer_table(tiny_build, tmp_path, capsys):
    from flow.agreement import main

    _, _, res = tiny_build
    out = tmp_path / "agree.json"
    assert main(["--build", str(res.out), "--checkpoint", str(res.out.parent / "ck.pt"),
                 "--faces", "3", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["layers"]
    assert rows and all(r["off_tie"] == 0 for r in rows)
    assert "away from a rounding tie" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--build", str(res.out), "--faces", "0"])


def test_agreement_flags_a_wrong_threshold_as_off_tie(tiny_build):
    """The per-layer check can fail: shifting one layer's activation by a third of a step
    (its thresholds, or its requantization's bias B) turns into mismatches away from any
    rounding tie, reported on that layer."""
    net, x, res = tiny_build
    acc = Accelerator.load(res.out)
    from hls.design_files import load_params

    params = load_params(acc)
    node = next(n for n in acc.nodes if n.kind == "mvau" and "thresholds" in params.get(n.name, {}))
    t, act = params[node.name]["thresholds"], node.engine().activation()
    if act.pieces:  # (M, B) columns: B + 2^S / 3 raises every output by a third of a code
        t = t.copy()
        t[:, [1, 3][:act.pieces]] += (1 << act.shift) // 3
    else:
        t = t - max(1, int(np.median(np.diff(t, axis=-1))) // 3)
    params[node.name] = dict(params[node.name], thresholds=t)
    codes = np.rint(x.numpy() * 255).astype(np.int64).transpose(0, 2, 3, 1)
    rows = layer_agreement(net, acc, codes, params=params)
    bad = [r for r in rows if r.off_tie]
    assert bad and bad[0].layer == node.layer


def test_a_build_stopped_after_a_step_and_resumed_equals_the_whole_build(tiny_build, tmp_path):
    """The flow is a list of named steps: run up to fold, then from streamline on the folder
    it left; the description, parameters, generated HLS and the estimate report are the ones
    the uninterrupted build wrote, and time_per_step.json has every step's time."""
    from flow.steps import NAMES

    _, _, res = tiny_build
    ck = res.out.parent / "ck.pt"
    out = tmp_path / res.out.name  # the same design name
    kw = dict(out=out, checkpoint=ck, fps=20000, finn_report=False, weights_header=False,
              folding=res.out.parent / "fold.json")
    first = build(BuildConfig(**kw, verify_images=0, stop_step="fold"))
    assert first.steps_done == ["load", "check_folding", "fold"] and not first.complete
    assert not (out / "accelerator.json").exists()
    assert (out / "intermediate" / "folded_accelerator.json").is_file()
    assert list(json.loads((out / "time_per_step.json").read_text())) == first.steps_done
    rest = build(BuildConfig(**kw, verify_images=2, start_step="streamline"))
    assert rest.complete and rest.steps_done == NAMES[NAMES.index("streamline"):]
    times = json.loads((out / "time_per_step.json").read_text())
    assert list(times) == NAMES and all(t >= 0 for t in times.values())
    assert rest.report["verification"]["csim_equals_golden"]
    files = ["accelerator.json", "hls/network.h", "hls/top.cpp", "reports/estimate.json", "params.bin"]
    files += [n.weights for n in rest.accelerator.nodes if n.weights]
    files += [n.thresholds for n in rest.accelerator.nodes if n.thresholds]
    for f in files:
        assert (out / f).read_bytes() == (res.out / f).read_bytes(), f


def test_step_ranges_that_cannot_run_are_refused_before_any_work(tiny_build, tmp_path):
    from flow.build import BuildError

    _, _, res = tiny_build
    ck = res.out.parent / "ck.pt"
    for kw, msg in [(dict(stop_step="folding"), "no such step; the steps are load, check_folding"),
                    (dict(start_step="verify", stop_step="fold"), "comes after --stop-step fold"),
                    (dict(start_step="write"), "start at streamline"),
                    (dict(start_step="streamline"), "no earlier build there")]:
        with pytest.raises(BuildError, match=msg):
            build(BuildConfig(out=tmp_path / "new", checkpoint=ck, **kw))
    assert not (tmp_path / "new").exists() and not (tmp_path / "new.partial").exists()
    # a folder stopped after load has no folded design for streamline to read
    build(BuildConfig(out=tmp_path / "early", checkpoint=ck, stop_step="load"))
    with pytest.raises(BuildError, match="folded_accelerator.json is not in the build folder"):
        build(BuildConfig(out=tmp_path / "early", checkpoint=ck, start_step="streamline"))


def test_mse_scaled_network_builds_and_matches_its_brevitas_layers(tmp_path):
    """Learned MSE-initialised scales (QuantConfig scaling="mse") are only other constants for
    the flow: the build from the checkpoint passes its per-layer check against Brevitas."""
    net, _ = calibrated_net("vargnet", "w4a4-mse")
    save(net, tmp_path / "ck.pt")
    res = build(BuildConfig(out=tmp_path / "b", checkpoint=tmp_path / "ck.pt", fps=20000,
                            verify_images=3, finn_report=False, weights_header=False))
    v = res.report["verification"]
    assert v["csim_equals_golden"] and v["brevitas_codes_differing_off_ties"] == 0
    assert v["brevitas_codes_compared"] > 0 and res.accelerator.quant["scaling"] == "mse"


def test_vargnet_build_from_a_qonnx_file(tmp_path):
    net, _ = calibrated_net("vargnet", "w4a4")
    p = export_qonnx(net, tmp_path / "m.qonnx")
    res = build(BuildConfig(out=tmp_path / "b", onnx=p, fps=20000, verify_images=3, finn_report=False,
                            weights_header=False))
    v = res.report["verification"]
    assert v["csim_equals_golden"] and v["qonnx_integer_graph_equals_golden"]
    assert "scoring" not in res.accelerator.output  # a QONNX file carries no scoring backend


def test_truncated_or_non_qonnx_file_is_refused(tmp_path):
    net, _ = calibrated_net("vargnet", "w4a4")
    p = export_qonnx(net, tmp_path / "m.qonnx")
    data = p.read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(StreamlineError, match="not a readable ONNX model"):
        load_export(tmp_path / "cut.onnx")
    g = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "g",
                               [onnx.helper.make_tensor_value_info("x", 1, [1, 4])],
                               [onnx.helper.make_tensor_value_info("y", 1, [1, 4])])
    onnx.save(onnx.helper.make_model(g), tmp_path / "plain.onnx")
    with pytest.raises(StreamlineError, match="not a QONNX model"):
        load_export(tmp_path / "plain.onnx")


def test_export_names_each_layers_weight_and_the_flow_needs_that_map(tmp_path):
    """The export writes layer -> weight initializer into the metadata; the flow finds every
    weight through it, and an export without it is refused by name."""
    from flow.streamline import weight_map
    from model.export_format import META_WEIGHTS

    net, _ = calibrated_net("vargnet", "w4a4")
    p = export_qonnx(net, tmp_path / "m.qonnx")
    wm = weight_map(load_export(p))
    weighted = [l.name for l in net.arch.layers if l.op in ("conv", "fc")]
    weighted += [f"{l.name}.fc{j}" for l in net.arch.layers if l.op == "se" for j in (1, 2)]
    assert sorted(wm) == sorted(weighted)
    inits = {t.name for t in onnx.load(p).graph.initializer}
    assert set(wm.values()) <= inits
    m = onnx.load(p)
    kept = [q for q in m.metadata_props if q.key != META_WEIGHTS]
    del m.metadata_props[:]
    m.metadata_props.extend(kept)
    onnx.save(m, tmp_path / "nomap.qonnx")
    with pytest.raises(StreamlineError, match="no layer -> weight map"):
        build(BuildConfig(out=tmp_path / "b", onnx=tmp_path / "nomap.qonnx", fps=20000, verify_images=0))


def test_unsupported_op_is_named_with_its_node(tmp_path):
    net, _ = calibrated_net("vargnet", "w4a4")
    p = export_qonnx(net, tmp_path / "m.qonnx")
    m = onnx.load(p)
    relu = next(n for n in m.graph.node if n.op_type == "Relu")
    relu.op_type = "Sigmoid"
    onnx.save(m, tmp_path / "sig.qonnx")
    with pytest.raises(StreamlineError, match=r"unsupported ops in the graph: Sigmoid \(.*Relu"):
        build(BuildConfig(out=tmp_path / "b", onnx=tmp_path / "sig.qonnx", fps=20000, verify_images=0))


def test_folding_json_with_unknown_layer_or_illegal_pe_fails_before_building(tmp_path):
    net, _ = calibrated_net("vargnet", "w4a4")
    p = export_qonnx(net, tmp_path / "m.qonnx")
    bad = tmp_path / "fold.json"
    bad.write_text(json.dumps({"conv99": {"PE": 2}}))
    with pytest.raises(FoldingError, match="unknown layers.*conv99"):
        build(BuildConfig(out=tmp_path / "b", onnx=p, folding=bad))
    bad.write_text(json.dumps({"conv1": {"PE": 3, "SIMD": 1}}))
    with pytest.raises(FoldingError, match="PE=3 does not divide"):
        build(BuildConfig(out=tmp_path / "b", onnx=p, folding=bad))
    assert not (tmp_path / "b").exists()


def test_requant_report_covers_every_thresholded_node_of_a_build(tiny_build, tmp_path):
    from hls.requant import main as requant_main

    _, _, res = tiny_build
    assert requant_main(["--design", str(res.out), "--json", str(tmp_path / "r.json")]) == 0
    rows = json.loads((tmp_path / "r.json").read_text())
    acc = Accelerator.load(res.out)
    assert [r["node"] for r in rows] == [n.name for n in acc.nodes if "thresholds" in n.engine().param_specs()]
    assert all(0 <= r["fitted"] <= r["channels"] for r in rows)
    assert any(r["requant_bits"] is not None for r in rows)  # the layers without PReLU


def test_requantized_nodes_give_the_codes_of_the_thresholds_they_replace(tiny_build):
    from dataclasses import replace

    from hls.accel import engine_params
    from hls.design_files import load_params

    _, _, res = tiny_build
    acc = Accelerator.load(res.out)
    params = load_params(acc)
    forms = {n.name: n.engine().activation().pieces for n in acc.nodes if n.engine().activation()}
    assert {1, 2} <= set(forms.values())  # one-piece and PReLU (two-piece) nodes
    assert [c["node"] for c in res.report["requant"]] == list(forms)
    # the same design with every node back on thresholds (the tables' exact equivalents)
    thr = Accelerator.load(res.out)
    for n in thr.nodes:
        a = n.engine().activation()
        if a is not None and a.pieces:
            params_n = params[n.name]
            n.params = engine_params(replace(n.engine(), requant=0, rq_shift=0, rq_bits=0))
            params_n = dict(params_n, thresholds=a.thresholds_of(params_n["thresholds"]))
            params = dict(params, **{n.name: params_n})
    x, _ = load_orl((3, 14, 36), 32, per_id=2)
    x = np.concatenate([x, np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3))])
    assert np.array_equal(GoldenModel(acc).run(x), GoldenModel(thr, params).run(x))
    # the requantized design holds fewer bits of activation tables
    bits = lambda a: sum(n.engine().buffer_bits().get("thresholds", 0) for n in a.nodes)  # noqa: E731
    assert bits(acc) < bits(thr)


def test_folding_prices_the_forms_the_streamline_step_writes(tiny_build):
    """The fold step fits the unfolded network's nodes (their values do not depend on the
    folding): the same forms the streamline step wrote at the final folding. The folding's
    designs carry them for the estimate, and the saved description is back on thresholds."""
    from flow import folding as F
    from flow.lowering import lower
    from flow.requantize import fit_forms, strip_forms
    from flow.streamline import load_export, metadata, streamline
    from hls.boards import get_board

    _, _, res = tiny_build
    built = Accelerator.load(res.out)
    model = load_export(res.out / "model.qonnx")
    arch, quant, _ = metadata(model)
    unfolded = lower(arch, quant, {}, strict=False)
    forms = fit_forms(unfolded, streamline(model, unfolded).node_params(unfolded), "always")
    written = {n.name: (n.engine().requant, n.engine().rq_shift, n.engine().rq_bits)
               for n in built.nodes if n.engine().activation() is not None and n.engine().requant}
    assert written and {k: (f.pieces, f.shift, f.bits) for k, f in forms.exact.items()} == written
    board = get_board("zcu104")
    fr = F.fold_for_fps(arch, quant, board, 20000, forms=forms)
    carried = {n.name for n in fr.accelerator.nodes if n.engine().activation() is not None
               and n.engine().requant}
    assert carried == set(written)
    strip_forms(fr.accelerator)
    assert not any(n.engine().activation() is not None and n.engine().requant for n in fr.accelerator.nodes)


def test_board_fold_slows_down_until_its_sized_fifos_fit(monkeypatch):
    """fold_and_size without an FPS target: when the fastest folding that fits without FIFOs
    is over once they are sized, slower budgets are folded and sized (doubling, then
    bisecting) and the fastest that fits is kept. Here the sizing is replaced by one whose
    FIFOs fit only from 3x that folding's cycles a frame on."""
    from flow import folding as F
    from hls import resources as R
    from hls.boards import get_board
    from hls.estimate import estimate

    arch, quant, board = tiny("vargfacenet"), QuantConfig.parse("w4a4"), get_board("zcu104")
    fast = F.fold_for_board(arch, quant, board, fraction=0.8)
    assert fast.estimate.fits(board, 0.8)
    limit, sized = 3 * fast.cycles_per_frame, []

    def fake_size(fr, board, fraction, user=None):
        sized.append(fr.cycles_per_frame)
        est = estimate(fr.accelerator)
        if fr.cycles_per_frame < limit:  # FIFOs worth the whole board's LUTs
            est = F.DesignEstimate(est.per_node, est.fifos, est.total + R.Resources(lut=board.budget()["LUT"]))
        return None, est

    monkeypatch.setattr(F, "_size", fake_size)
    fr, _ = F.fold_and_size(arch, quant, board, 200.0, None, 0.8, None)
    assert sized[0] == fast.cycles_per_frame and len(sized) <= 9
    # the fastest of the sized foldings that fit; the foldings are discrete, so the search
    # stops once the budgets it tries (not the foldings they give) are within 10%
    assert fr.cycles_per_frame == min(c for c in sized if c >= limit)
    assert any(limit > c > fast.cycles_per_frame for c in sized)  # it bisected below the one kept


def test_mac_pack_in_a_folding_is_checked_where_it_applies(tmp_path):
    from flow.folding import check_folding

    arch, quant = tiny("vargnet"), QuantConfig.parse("w4a4")
    conv = next(l.name for l in arch.layers if l.op == "conv" and l.grouped)
    add = next(l.name for l in arch.layers if l.op == "add")
    check_folding(arch, quant, {conv: {"PE": 2, "SIMD": 8, "mac_pack": 2}})  # legal
    with pytest.raises(FoldingError, match="pack=2 by pe needs an even PE"):
        check_folding(arch, quant, {conv: {"PE": 1, "SIMD": 8, "mac_pack": 2}})
    # an odd PE pairs SIMD elements instead; an odd SIMD cannot
    check_folding(arch, quant, {conv: {"PE": 1, "SIMD": 8, "mac_pack": 2, "mac_pair": "simd"}})
    with pytest.raises(FoldingError, match="pack=2 by simd needs an even SIMD"):
        check_folding(arch, quant, {conv: {"PE": 1, "SIMD": 3, "mac_pack": 2, "mac_pair": "simd"}})
    with pytest.raises(FoldingError, match="pair='simd' needs pack=2"):
        check_folding(arch, quant, {conv: {"PE": 1, "SIMD": 8, "mac_pair": "simd"}})
    with pytest.raises(FoldingError, match=rf"mac_pack/mac_pair apply to conv/fc layers .*{add}"):
        check_folding(arch, quant, {add: {"PE": 1, "mac_pack": 2}})
    bad = tmp_path / "f.json"
    bad.write_text(json.dumps({conv: {"PE": 1, "SIMD": 8, "mac_pack": 2, "mac_pair": "lane"}}))
    with pytest.raises(FoldingError, match=r"mac_pair='lane': one of pe, simd"):
        load_folding(bad)


def test_bitstream_without_vendor_tools_says_what_was_generated_and_what_is_missing(tmp_path):
    net, _ = calibrated_net("vargnet", "w4a4")
    save(net, tmp_path / "ck.pt")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + ":/usr/bin:/bin")
    r = subprocess.run([sys.executable, "-m", "flow", "bitstream", "--checkpoint", str(tmp_path / "ck.pt"),
                        "--out", str(tmp_path / "b"), "--fps", "20000", "--verify-images", "1",
                        "--no-weights-header"], capture_output=True, text=True, env=env)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "Missing on PATH: vitis_hls, vivado" in r.stderr
    assert "tcl/hls.tcl" in r.stderr and str(tmp_path / "b") in r.stderr
    r = subprocess.run([sys.executable, "-m", "flow", "bitstream", "--checkpoint", str(tmp_path / "ck.pt"),
                        "--board", "pynq-z9"], capture_output=True, text=True)
    assert r.returncode == 2 and "supported boards: zcu104, kv260, ultra96v2" in r.stderr


def test_finn_custom_op_hls_backend_generates_the_engine_call(tiny_build, tmp_path):
    from qonnx.custom_op.registry import getCustomOp

    from flow.finn_ops import finn_model

    _, _, res = tiny_build
    acc = Accelerator.load(res.out)
    m = finn_model(acc)
    grouped = next(n for n in m.graph.node if n.name.endswith("part1.gconv"))
    op = getCustomOp(grouped)
    assert grouped.domain == "finn.custom_op.fpgadataflow.hls"
    op.code_gen_dict = {}
    op.global_includes()
    op.defines("ipgen")
    op.blackboxfunction()
    op.pragmas()
    op.docompute()
    assert '#include "vg_mvau.h"' in op.code_gen_dict["$GLOBALS$"]
    call = op.code_gen_dict["$DOCOMPUTE$"][0]
    cfg = "\n".join(op.code_gen_dict["$DEFINES$"])
    e = acc.node(grouped.name).engine()
    assert call.startswith("vg::mvau<cfg_") and "(in0_V, out0_V, W_" in call  # one-line call
    assert f"static const int PE = {e.pe};" in cfg and f"static const int SIMD = {e.simd};" in cfg
    assert f"typedef {e.activation().policy()} act;" in cfg  # thresholds or a requantization
    assert op.get_exp_cycles() == e.cycles() and op.verify_node() == ["engine parameters are legal"]
    # FINN's per-node IP source, filled with our slots, is C++ that compiles (finn-hlslib's
    # bnn-library.h, which FINN's template includes, is not installed here: our headers
    # stand in; the arrays are declared, their contents come from weights.h)
    from finn.custom_op.fpgadataflow.templates import ipgen_template

    src = ipgen_template.replace('#include "bnn-library.h"', "")
    for key, lines in op.code_gen_dict.items():
        src = src.replace(key, "\n".join(lines))
    src = src.replace("$AP_INT_MAX_W$", "4096")
    assert "$" not in src
    (tmp_path / "ipgen.cpp").write_text(src)
    gxx = require_tool("g++", "compiles the node's IP source")
    r = subprocess.run([gxx, *compile_flags(False), "-fsyntax-only", str(tmp_path / "ipgen.cpp")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]


def test_vivado_tcl_and_the_simulated_handoff_share_the_block_design_addresses(tiny_build):
    """hls/blockdesign.py is the one definition: the Tcl assigns these addresses, the host's
    .hwh model publishes them, the board driver looks the IPs up by these names; each node
    that reads its weights from DDR has a master on the DMA's HP port."""
    import xml.etree.ElementTree as ET

    from hls import blockdesign as bd
    from hls.boards import BOARDS
    from flow.tcl import vivado_tcl
    from host.hwh import hwh_text

    acc = Accelerator.load(tiny_build[2].out)
    tcl = vivado_tcl(acc, BOARDS["zcu104"], 200.0, "out")
    for i in range(3):  # the stage2 cache, emb.pw and fc
        assert (f'-config {{{{Slave "/{bd.PS}/S_AXI_HP0_FPD"}}}} [get_bd_intf_pins {bd.ACCEL}/'
                f'{bd.DDR_MASTER.format(i)}]') in tcl
    assert bd.DDR_MASTER.format(3) not in tcl
    assert f"set_property offset {bd.DMA_BASE:#010x} [get_bd_addr_segs /{bd.PS}/Data/SEG_{bd.DMA}_Reg]" in tcl
    assert f"set_property offset {bd.ACCEL_BASE:#010x} [get_bd_addr_segs /{bd.PS}/Data/SEG_{bd.ACCEL}_Reg]" in tcl
    assert "CONFIG.c_include_sg {0}" in tcl
    root = ET.fromstring(hwh_text(BOARDS["zcu104"].part, 200.0).split("\n", 1)[1])
    ranges = {r.get("INSTANCE"): int(r.get("BASEVALUE"), 16) for r in root.iter("MEMRANGE")
              if r.get("MEMTYPE") == "REGISTER"}
    assert ranges == {bd.DMA: bd.DMA_BASE, bd.ACCEL: bd.ACCEL_BASE}


def test_weight_codes_round_exact_float32_ties_as_brevitas_does():
    """A weight whose float32 w / s is exactly n + 0.5 (Brevitas and the Quant node round it
    half to even) must not be rounded from its float64 quotient, which lies off the tie."""
    from onnx import TensorProto, helper, numpy_helper
    from qonnx.core.modelwrapper import ModelWrapper

    from flow.streamline import _Graph

    rng = np.random.default_rng(0)
    for s in rng.uniform(1e-3, 1e-1, 200).astype(np.float32):
        w = np.float32(-62.5) * s  # rounded to float32
        if np.float32(w) / s == np.float32(-62.5) and np.float64(w) / np.float64(s) < -62.5:
            break
    else:
        pytest.skip("no float32 tie found")
    ws = np.array([[w, np.float32(3) * s]], np.float32)
    inits = [numpy_helper.from_array(ws, "W"), numpy_helper.from_array(np.array(s, np.float32), "s"),
             numpy_helper.from_array(np.array(0, np.float32), "z"),
             numpy_helper.from_array(np.array(8, np.float32), "b")]
    q = helper.make_node("Quant", ["W", "s", "z", "b"], ["Wq"], domain="qonnx.custom_op.general",
                         signed=1, narrow=0, rounding_mode="ROUND")
    g = helper.make_graph([q], "g", [], [helper.make_tensor_value_info("Wq", TensorProto.FLOAT, [1, 2])],
                          initializer=inits)
    codes, scale, _ = _Graph(ModelWrapper(helper.make_model(g))).weight("W", "test")
    with torch.no_grad():
        want = torch.round(torch.from_numpy(ws) / torch.tensor(s)).numpy().astype(np.int64)
    assert codes.tolist() == want.tolist() == [[-62, 3]]
    assert scale.tolist() == [float(s)]


def test_the_runner_up_folding_is_sized_where_the_chosen_one_is_over_once_sized():
    """fold_and_size for an FPS target: the re-pricing rounds are compared without their
    FIFOs, which are sized afterwards; where the design chosen so is over the budget once
    sized, the runner-up (FoldingResult.alternatives) is sized too and the one less over is
    kept. A chosen design that fits is kept, and its runner-up is never sized."""
    from dataclasses import replace

    from flow.folding import _build, _size_best
    from hls.boards import get_board
    from hls.estimate import estimate

    arch, quant, zcu = tiny("vargnet"), QuantConfig(4, 4), get_board("zcu104")
    fast_folding = {l.name: {"PE": 4, "SIMD": 4} for l in arch.layers  # the pointwise convs, 16 lanes each
                    if l.op == "conv" and not l.grouped and l.k == 1}

    def pair(board):
        slow = _build(arch, quant, {}, board, 0.8, 200.0)
        fast = _build(arch, quant, fast_folding, board, 0.8, 200.0)
        return replace(fast, alternatives=(slow,)), slow

    lut_fast = estimate(pair(zcu)[0].accelerator).total.lut
    lut_slow = estimate(pair(zcu)[1].accelerator).total.lut
    assert lut_fast > lut_slow  # the fast folding's lanes
    tight = replace(zcu, lut=int(lut_slow / 0.8 * 0.9))  # both over by LUT, the fast one more
    fr, slow = pair(tight)
    kept, sizing = _size_best(fr, tight, 0.8)
    assert kept.folding == slow.folding and kept.alternatives == ()
    assert {s.name: s.depth for s in kept.accelerator.streams} == sizing.depths  # sized
    assert estimate(kept.accelerator).overshoot(tight, 0.8) < estimate(fr.accelerator).overshoot(tight, 0.8)

    roomy = replace(zcu, lut=10**7, ff=10**7, dsp=10**6, bram36=10**6, uram=10**5)
    fr, slow = pair(roomy)  # the fast folding fits: kept, the slow one left unsized
    before = {s.name: s.depth for s in slow.accelerator.streams}
    kept, _ = _size_best(fr, roomy, 0.8)
    assert kept is fr and {s.name: s.depth for s in slow.accelerator.streams} == before
