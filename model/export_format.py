"""What an exported QONNX file carries besides its graph, and the one way it is cleaned; shared
by the export (model/export.py) and the flow, without torch.

Metadata (ONNX metadata_props): the architecture (JSON of model.arch), the quantization, the
host tail, and the layer -> weight initializer map (engine node name -> initializer: conv and
fc layers by layer name, an SE block's FCs as "<layer>.fc1" / "<layer>.fc2"), so that the flow
finds each layer's weight without knowing PyTorch module names.
"""

from __future__ import annotations

META_ARCH = "vargnet.arch"
META_QUANT = "vargnet.quant"
META_TAIL = "vargnet.tail"
META_WEIGHTS = "vargnet.weights"


def clean(model):
    """The one cleaning of an exported graph (the flow's and the tests'): qonnx shape
    inference and constant folding (Quant nodes kept). Not qonnx's cleanup_model: its
    GiveReadableTensorNames renames the initializers META_WEIGHTS names."""
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.infer_shapes import InferShapes

    return model.transform(InferShapes()).transform(FoldConstants())
