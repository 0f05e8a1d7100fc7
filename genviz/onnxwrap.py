"""genviz's tensor contract around a brought ONNX graph (`genviz.models.onnx`), and the onnxruntime sessions that run
it: the decoder takes the flat latent z (B, D) and gives images in [0, 1]; the encoder takes such images and gives
flat latents. The wrapped graph is what the server and the browser both run.
"""

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from genviz.files import first_line
from genviz.onnxfile import ONNXFileError, graph_io


def session(model: onnx.ModelProto):
    """An onnxruntime session of `model`: on the CUDA execution provider where onnxruntime's GPU build is installed
    and a GPU is present, else on the CPU with as many threads as torch uses (`torch.set_num_threads`)."""
    import onnxruntime

    providers = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers() and torch.cuda.is_available():
        providers.insert(0, "CUDAExecutionProvider")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=providers)


def _float_input(model: onnx.ModelProto, path: Path, what: str) -> str:
    """The graph's one input's name, when it is one float32 tensor."""
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1:
        raise ONNXFileError(f"{path}: {what} must take one input; it takes {len(inputs)}")
    if inputs[0].type.tensor_type.elem_type != TensorProto.FLOAT:
        raise ONNXFileError(f"{path}: {what}'s input {inputs[0].name!r} must be float32")
    return inputs[0].name


def _check_dims(path: Path, what: str, name: str, dims: tuple, want: tuple[int, ...]) -> None:
    """Refuse a graph whose declared dims (batch first) disagree with the config's shape; symbolic dims pass, and so
    does an undeclared shape (None): the test decode and encode check what the graph gives."""
    if dims is None:
        return
    if len(dims) != len(want) + 1 or any(isinstance(d, int) and d != w for d, w in zip(dims[1:], want, strict=True)):
        shown = ", ".join("?" if d is None else str(d) for d in dims)
        raise ONNXFileError(
            f"{path}: {what} {name!r} is declared ({shown}), but config.json says (batch, {', '.join(map(str, want))})"
        )


def _value(name: str, dims: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def _scalar(name: str, value: float) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(value, dtype=np.float32), name)


def wrap_decoder(model: onnx.ModelProto, config, path: Path) -> onnx.ModelProto:  # config: an ONNXConfig
    """The decoder in genviz's contract: "z" (B, D) -> "images" (B, C, H, W) in [0, 1] (the module docstring)."""
    inputs, outputs = graph_io(model)
    name = _float_input(model, path, "the decoder")
    _check_dims(path, "the decoder's input", name, inputs[name], config.latent_shape)
    if len(outputs) != 1:
        raise ONNXFileError(f"{path}: the decoder must give one output, the images; it gives {len(outputs)}")
    (out,) = outputs
    _check_dims(path, "the decoder's output", out, outputs[out], config.image_shape)
    low, high = config.pixel_range
    wrapped = onnx.compose.add_prefix(model, "source/")
    graph = wrapped.graph
    nodes = list(graph.node)
    graph.initializer.extend([
        numpy_helper.from_array(np.array([-1, *config.latent_shape], dtype=np.int64), "genviz/latent_shape"),
        _scalar("genviz/low", low), _scalar("genviz/scale", 1 / (high - low)),
        _scalar("genviz/zero", 0.0), _scalar("genviz/one", 1.0),
    ])  # fmt: skip
    del graph.node[:]
    graph.node.extend([
        helper.make_node("Reshape", ["z", "genviz/latent_shape"], ["source/" + name]),
        *nodes,
        helper.make_node("Sub", ["source/" + out, "genviz/low"], ["genviz/shifted"]),
        helper.make_node("Mul", ["genviz/shifted", "genviz/scale"], ["genviz/scaled"]),
        helper.make_node("Clip", ["genviz/scaled", "genviz/zero", "genviz/one"], ["images"]),
    ])  # fmt: skip
    _replace_io(graph, [_value("z", ["batch", config.latent_dim])], [_value("images", ["batch", *config.image_shape])])
    return wrapped


def wrap_encoder(model: onnx.ModelProto, config, path: Path) -> onnx.ModelProto:  # config: an ONNXConfig
    """The encoder in genviz's contract: "images" (B, C, H, W) in [0, 1] -> "z" (B, D), or "mean" and "logvar"."""
    inputs, outputs = graph_io(model)
    name = _float_input(model, path, "the encoder")
    _check_dims(path, "the encoder's input", name, inputs[name], config.image_shape)
    names = ["z"] if config.encoder_outputs == "code" else ["mean", "logvar"]
    if len(outputs) != len(names):
        raise ONNXFileError(
            f"{path}: an encoder of {config.encoder_outputs} gives {len(names)} output(s) ({', '.join(names)}); "
            f"this one gives {len(outputs)}"
        )
    for out, dims in outputs.items():
        _check_dims(path, "the encoder's output", out, dims, config.latent_shape)
    low, high = config.pixel_range
    wrapped = onnx.compose.add_prefix(model, "source/")
    graph = wrapped.graph
    nodes = list(graph.node)
    graph.initializer.extend([_scalar("genviz/low", low), _scalar("genviz/width", high - low)])
    del graph.node[:]
    graph.node.extend([
        helper.make_node("Mul", ["images", "genviz/width"], ["genviz/stretched"]),
        helper.make_node("Add", ["genviz/stretched", "genviz/low"], ["source/" + name]),
        *nodes,
        *(helper.make_node("Flatten", ["source/" + out], [flat], axis=1)
          for out, flat in zip(outputs, names, strict=True)),
    ])  # fmt: skip
    _replace_io(
        graph,
        [_value("images", ["batch", *config.image_shape])],
        [_value(flat, ["batch", config.latent_dim]) for flat in names],
    )
    return wrapped


def wrapped(wrap, model: onnx.ModelProto, config, path: Path) -> onnx.ModelProto:
    """`wrap(model, config, path)`; what onnx raises while a strange graph is rewritten, as an ONNXFileError."""
    try:
        return wrap(model, config, path)
    except ONNXFileError:
        raise
    except Exception as e:  # onnx.compose and protobuf raise many types on graphs they cannot rename
        raise ONNXFileError(f"{path}: cannot be wrapped into genviz's tensor contract ({first_line(e)})") from None


def _replace_io(graph: onnx.GraphProto, inputs: list, outputs: list) -> None:
    initialisers = {t.name for t in graph.initializer}
    kept = [i for i in graph.input if i.name in initialisers]  # older IRs list initialisers as inputs too
    del graph.input[:]
    graph.input.extend([*inputs, *kept])
    del graph.output[:]
    graph.output.extend(outputs)
