"""Edits of an exported ONNX graph: output names, an in-graph input-size check, int8 and fp16 variants."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["rename_outputs", "add_size_check", "fold_weight_transposes", "quantize_int8", "convert_fp16",
           "SIZE_CHECK_NODE"]

SIZE_CHECK_NODE = "input_size_check"
"""Name prefix of the Reshape node that fails when an input size is outside the graph's range."""


def rename_outputs(proto: Any, names: Sequence[str]) -> bool:
    """Rename the graph outputs of `proto` to `names` in place; False (nothing changed) when they do not fit."""
    graph = proto.graph
    taken = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    names = list(names)
    if len(graph.output) != len(names) or len(set(names)) != len(names) or taken & set(names):
        return False
    renames = {o.name: n for o, n in zip(graph.output, names) if o.name != n}
    if not renames:
        return True
    produced = {x for node in graph.node for x in node.output}
    clash = (produced - set(renames)) & set(names)
    if clash:  # an intermediate already carries a wanted name
        return False
    for node in graph.node:
        node.output[:] = [renames.get(x, x) for x in node.output]
        node.input[:] = [renames.get(x, x) for x in node.input]
    for o in graph.output:
        o.name = renames.get(o.name, o.name)
    for info in graph.value_info:
        info.name = renames.get(info.name, info.name)
    return True


def add_size_check(proto: Any, input_name: str, min_size: Sequence[int], max_size: Sequence[int | None],
                   multiple: int | None) -> str:
    """Make the graph refuse spatial sizes outside ``[min_size, max_size]`` or not divisible by `multiple`.

    ONNX has no assert; a Reshape of a one-element tensor to ``[1 + number of bad axes]`` fails exactly when
    a size is out of range, and its (all-zero) result is added to the input, so every output depends on it
    and no optimiser removes it. onnxruntime's error then names the node, which states the valid sizes.
    Returns the node's name.
    """
    from onnx import TensorProto, helper

    graph = proto.graph
    inp = next(i for i in graph.input if i.name == input_name)
    elem = inp.type.tensor_type.elem_type
    nd = len(min_size)
    rank = 2 + nd
    desc = "x".join(str(s) for s in min_size)
    upper = "" if all(m is None for m in max_size) else " and at most " + "x".join("any" if m is None else str(m)
                                                                                     for m in max_size)
    mult = f" and multiples of {multiple}" if multiple and multiple > 1 else ""
    node_name = f"{SIZE_CHECK_NODE}: spatial sizes must be at least {desc}{upper}{mult}"
    p = "vz_size_check_"
    checked = f"{p}checked_input"
    nodes = [
        helper.make_node("Shape", [input_name], [p + "shape"], start=2, end=rank),
        helper.make_node("Constant", [], [p + "min"], value=helper.make_tensor(p + "min_v", TensorProto.INT64, [nd], list(min_size))),
        helper.make_node("GreaterOrEqual", [p + "shape", p + "min"], [p + "ge_min"]),
    ]
    ok = p + "ge_min"
    if any(m is not None for m in max_size):
        big = [m if m is not None else 2**62 for m in max_size]
        nodes += [
            helper.make_node("Constant", [], [p + "max"], value=helper.make_tensor(p + "max_v", TensorProto.INT64, [nd], big)),
            helper.make_node("LessOrEqual", [p + "shape", p + "max"], [p + "le_max"]),
            helper.make_node("And", [ok, p + "le_max"], [p + "in_range"]),
        ]
        ok = p + "in_range"
    if multiple and multiple > 1:
        nodes += [
            helper.make_node("Constant", [], [p + "mult"], value=helper.make_tensor(p + "mult_v", TensorProto.INT64, [1], [multiple])),
            helper.make_node("Constant", [], [p + "zero_i"], value=helper.make_tensor(p + "zero_i_v", TensorProto.INT64, [1], [0])),
            helper.make_node("Mod", [p + "shape", p + "mult"], [p + "rem"]),
            helper.make_node("Equal", [p + "rem", p + "zero_i"], [p + "divisible"]),
            helper.make_node("And", [ok, p + "divisible"], [p + "ok"]),
        ]
        ok = p + "ok"
    nodes += [
        helper.make_node("Not", [ok], [p + "bad"]),
        helper.make_node("Cast", [p + "bad"], [p + "bad_i"], to=TensorProto.INT64),
        helper.make_node("ReduceSum", [p + "bad_i"], [p + "n_bad"], keepdims=1),  # [1]
        helper.make_node("Constant", [], [p + "one_i"], value=helper.make_tensor(p + "one_i_v", TensorProto.INT64, [1], [1])),
        helper.make_node("Add", [p + "n_bad", p + "one_i"], [p + "target"]),
        helper.make_node("Constant", [], [p + "zero"], value=helper.make_tensor(p + "zero_v", elem, [1], [0])),
        helper.make_node("Reshape", [p + "zero", p + "target"], [p + "checked_zero"], name=node_name),
        helper.make_node("Add", [input_name, p + "checked_zero"], [checked]),
    ]
    for node in graph.node:  # every consumer of the input reads the checked copy
        node.input[:] = [checked if x == input_name else x for x in node.input]
    for k, node in enumerate(nodes):
        graph.node.insert(k, node)
    return node_name


def fold_weight_transposes(proto: Any) -> int:
    """Replace ``Transpose(initializer)`` nodes by a transposed initializer, in place; returns how many.

    The exporter writes ``x @ W.T`` as a MatMul of a Transpose node of the weight; dynamic quantization only
    quantizes MatMuls whose second input is a constant. A general constant folding would do it too, but
    it also materialises large computed constants (Swin's attention masks and biases per window: a file
    larger than the fp32 one), so only weight transposes are folded.
    """
    from onnx import numpy_helper

    graph = proto.graph
    inits = {t.name: t for t in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    folded = 0
    for node in list(graph.node):
        if node.op_type != "Transpose" or not node.input or node.input[0] not in inits:
            continue
        weight = numpy_helper.to_array(inits[node.input[0]])
        perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
        new = numpy_helper.from_array(weight.transpose(perm) if perm else weight.T, node.output[0])
        graph.initializer.append(new)
        graph.node.remove(node)
        uses[node.input[0]] -= 1
        if uses[node.input[0]] == 0 and not any(i.name == node.input[0] for i in graph.input):
            graph.initializer.remove(inits.pop(node.input[0]))
        folded += 1
    return folded


def quantize_int8(src: str | Path, dst: str | Path) -> None:
    """onnxruntime dynamic quantization: MatMul/Gemm weights int8 (per channel), activations quantised at run time.

    Convolutions stay fp32 (dynamic ConvInteger is slower than fp32 convolution in onnxruntime's CPU provider).
    Weight transposes are folded first (`fold_weight_transposes`), so every MatMul has a constant weight.
    """
    import os
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    proto = onnx.load(str(src))
    fold_weight_transposes(proto)
    fd, folded = tempfile.mkstemp(suffix=".onnx", dir=str(Path(dst).parent), prefix=".prequant.")
    os.close(fd)
    try:
        onnx.save(proto, folded)
        quantize_dynamic(folded, str(dst), op_types_to_quantize=["MatMul", "Gemm"], weight_type=QuantType.QInt8,
                         per_channel=True, extra_options={"MatMulConstBOnly": True})
    finally:
        Path(folded).unlink(missing_ok=True)


def convert_fp16(proto: Any) -> Any:
    """fp16 weights and arithmetic with fp32 inputs and outputs (onnxruntime's own float16 converter)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(proto, keep_io_types=True, disable_shape_infer=False)
