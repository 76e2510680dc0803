"""The project's engines as FINN custom ops, so FINN's analyses see them.

`VarGNetEngine` is an HWCustomOp standing for any node of an accelerator description (the
node's engine parameters are its `engine` attribute, JSON); `VarGNetEngine_hls` adds FINN's
HLS backend, whose code generation calls the hls/ template of the node (the same call the
generated network.h makes). Importing this module registers both in FINN's registries
(`finn.custom_op.fpgadataflow` and `.hls`), which is where FINN's `exp_cycles_per_layer` and
`res_estimation` analyses look. Cycles and resources come from hls/engines/ and
hls/resources.py: one definition, FINN reports what the simulator uses.

`finn_model(acc)` turns an accelerator description into a FINN graph of these ops;
`finn_analyses(acc)` runs FINN's two analyses on it.
"""

from __future__ import annotations

import json
from typing import Any


import finn.custom_op.fpgadataflow as _fd
import finn.custom_op.fpgadataflow.hls as _fd_hls
from finn.custom_op.fpgadataflow.hlsbackend import HLSBackend
from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp
from qonnx.core.datatype import DataType

from hls.accel import Accelerator, Node, port_formats

DOMAIN_HLS = "finn.custom_op.fpgadataflow.hls"


def _dt(s: str) -> DataType:
    return DataType[("INT" if s.startswith("int") else "UINT") + s.lstrip("uint").lstrip("int")]


class VarGNetEngine(HWCustomOp):
    """Any engine node of the accelerator (kind + engine parameters)."""

    def get_nodeattr_types(self) -> dict[str, Any]:
        d = super().get_nodeattr_types()
        d.update({"kind": ("s", True, ""), "engine": ("s", True, ""), "layer": ("s", False, ""),
                  "memory": ("s", False, "auto"), "mac": ("s", False, "auto")})
        return d

    # ---- the engine behind the node -----------------------------------------------------------
    def _node(self) -> Node:
        return Node(self.onnx_node.name, self.get_nodeattr("kind"), self.get_nodeattr("layer"),
                    [], [], json.loads(self.get_nodeattr("engine")),
                    memory=self.get_nodeattr("memory"), mac=self.get_nodeattr("mac"))

    def _ports(self):
        n = self._node()
        return port_formats(n, n.engine())

    # ---- shapes and datatypes (a stream of `words` words of `n` elements per frame) ---------
    def get_normal_input_shape(self, ind=0):
        n, _, words = self._ports()[0][ind]
        return (1, words * n)

    def get_normal_output_shape(self, ind=0):
        n, _, words = self._ports()[1][ind]
        return (1, words * n)

    def get_folded_input_shape(self, ind=0):
        n, _, words = self._ports()[0][ind]
        return (1, words, n)

    def get_folded_output_shape(self, ind=0):
        n, _, words = self._ports()[1][ind]
        return (1, words, n)

    def get_input_datatype(self, ind=0):
        return _dt(self._ports()[0][ind][1])

    def get_output_datatype(self, ind=0):
        return _dt(self._ports()[1][ind][1])

    def get_instream_width(self, ind=0):
        n, dt, _ = self._ports()[0][ind]
        return n * _dt(dt).bitwidth()

    def get_outstream_width(self, ind=0):
        n, dt, _ = self._ports()[1][ind]
        return n * _dt(dt).bitwidth()

    def get_number_output_values(self):
        return self._ports()[1][0][2]

    def infer_node_datatype(self, model):
        for i, o in enumerate(self.onnx_node.output):
            model.set_tensor_datatype(o, self.get_output_datatype(i))

    def make_shape_compatible_op(self, model):
        return super().make_const_shape_op(self.get_normal_output_shape())

    def verify_node(self):
        try:
            self._node().engine()
            return ["engine parameters are legal"]
        except ValueError as e:
            return [f"illegal engine parameters: {e}"]

    def execute_node(self, context, graph):
        raise NotImplementedError(
            "VarGNetEngine nodes carry no weights in FINN's graph: execute the design with the "
            "golden model (sim/golden.py) or the whole-network C-sim (hls/csim_net.py)")

    # ---- FINN's estimate interface, answered from hls/engines/ and hls/resources.py ------
    def get_exp_cycles(self):
        return int(self._node().engine().cycles())

    def _res(self):
        from hls.estimate import node_resources

        return node_resources(self._node())

    def bram_estimation(self, fpgapart=None):
        return int(self._res().bram18)

    def uram_estimation(self, fpgapart=None):
        return int(self._res().uram)

    def lut_estimation(self, fpgapart=None):
        return int(round(self._res().lut))

    def dsp_estimation(self, fpgapart=None):
        return int(self._res().dsp)


class VarGNetEngine_hls(VarGNetEngine, HLSBackend):
    """HLS code generation into FINN's per-node templates (ipgen_template: includes, defines,
    `blackbox(streams) { pragmas; docompute }`): the node's config struct goes into the
    defines, its one-line template call (the call network.h makes) into docompute, on FINN's
    stream names in0_V.. / out0_V... The parameter arrays are declared, not defined: their
    contents are the build's weights.h."""

    def get_nodeattr_types(self):
        d = VarGNetEngine.get_nodeattr_types(self)
        d.update(HLSBackend.get_nodeattr_types(self))
        return d

    def _streams(self) -> tuple[list[str], list[str]]:
        fin, fout = self._ports()
        return [f"in{i}_V" for i in range(len(fin))], [f"out{i}_V" for i in range(len(fout))]

    def global_includes(self):
        from hls.codegen import param_declarations

        self.code_gen_dict["$GLOBALS$"] = ['#include "vg_swg.h"', '#include "vg_mvau.h"',
                                           '#include "vg_eltwise.h"', '#include "vg_se.h"',
                                           *param_declarations(self._node(), "const")]

    def defines(self, var):
        from hls.codegen import node_code

        cfg, _ = node_code(self._node(), *self._streams())
        self.code_gen_dict["$DEFINES$"] = [f"// {self.get_nodeattr('kind')} {self.onnx_node.name}",
                                           *([cfg] if cfg else [])]

    def docompute(self):
        from hls.codegen import node_code

        self.code_gen_dict["$DOCOMPUTE$"] = [node_code(self._node(), *self._streams())[1]]

    def blackboxfunction(self):
        from hls.codegen import ident, node_signature

        n = self._node()
        self.code_gen_dict["$BLACKBOXFUNCTION$"] = [node_signature(n, ident(n.name), *self._streams())]

    def pragmas(self):
        ins, outs = self._streams()
        self.code_gen_dict["$PRAGMAS$"] = [f"#pragma HLS INTERFACE axis port={s}" for s in ins + outs]
        self.code_gen_dict["$PRAGMAS$"].append("#pragma HLS INTERFACE ap_ctrl_none port=return")


_fd.custom_op["VarGNetEngine"] = VarGNetEngine
_fd_hls.custom_op["VarGNetEngine_hls"] = VarGNetEngine_hls


def finn_model(acc: Accelerator):
    """A FINN graph of the accelerator: one VarGNetEngine_hls node per engine node."""
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper

    nodes = []
    vi = {}
    for s in acc.streams:
        vi[s.name] = helper.make_tensor_value_info(s.name, TensorProto.FLOAT, [1, s.words * s.n])
    for n in acc.nodes:
        nodes.append(helper.make_node(
            "VarGNetEngine_hls", list(n.inputs), list(n.outputs), name=n.name, domain=DOMAIN_HLS,
            backend="fpgadataflow", kind=n.kind, engine=json.dumps(n.params), layer=n.layer,
            memory=n.memory, mac=n.mac))
    g = helper.make_graph(nodes, acc.name, [vi[acc.input["stream"]]], [vi[acc.output["stream"]]],
                          value_info=[v for k, v in vi.items()
                                      if k not in (acc.input["stream"], acc.output["stream"])])
    model = ModelWrapper(helper.make_model(g))
    for s in acc.streams:
        model.set_tensor_datatype(s.name, _dt(s.dtype))
    return model


def finn_analyses(acc: Accelerator, fpgapart: str = "xczu7ev-ffvc1156-2-e") -> dict[str, Any]:
    """FINN's exp_cycles_per_layer and res_estimation on the accelerator's FINN graph."""
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.res_estimation import res_estimation

    m = finn_model(acc)
    return {"exp_cycles_per_layer": m.analysis(exp_cycles_per_layer),
            "res_estimation": res_estimation(m, fpgapart)}
