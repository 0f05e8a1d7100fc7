"""Reading ONNX files genviz did not write (genviz.onnxfile): what opens, each refusal in words, and a fuzzer.

The models are real: a genviz decoder exported by genviz.export (untrained: these are checks of files, not of
pictures), the same with its weights in a file beside it, and graphs built with onnx.helper for what an export never
makes (old opsets, custom operators, subgraphs, local functions, sparse initialisers).

The fuzzer's budgets are fixed, and its runs derandomized with no example database, as in test_upload_fuzz.py:
*_EXAMPLES below, FUZZ_EXAMPLES in all. Every input either opens, and then graph_io reads it, or raises ONNXFileError
naming the file; any other exception fails. A file outside the model's folder holds SECRET, which no model that
opens may contain.
"""

import copy
import io
import os
import pickle
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto
from onnx import helper as oh
from PIL import Image

from genviz import onnxfile
from genviz.export import decoder_onnx
from genviz.models import AEConfig, build_model
from genviz.onnxfile import MAX_ONNX_BYTES, MIN_OPSET, STANDARD_DOMAINS, ONNXFileError, graph_io, read_onnx

# Inputs tried per property.
RANDOM_BYTES_EXAMPLES = 150
DAMAGED_FILE_EXAMPLES = 400
MUTATED_MODEL_EXAMPLES = 600
FUZZ_EXAMPLES = RANDOM_BYTES_EXAMPLES + DAMAGED_FILE_EXAMPLES + MUTATED_MODEL_EXAMPLES
FUZZ_MAX_BYTES = 1 << 20  # the fuzzer's size limit: its external ranges reach past it
SECRET = b"SECRET, outside the model's folder. " * 64


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None)


# Models


@pytest.fixture(scope="module")
def decoder() -> bytes:
    """A genviz decoder as genviz exports it: z (batch, 4) -> images (batch, 1, 28, 28), opset 18."""
    torch.manual_seed(0)  # the same weights, so the same bytes for the derandomized fuzzer, on every run
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return decoder_onnx(build_model("ae", AEConfig(latent_dim=4, width=4)))
    finally:
        torch.set_num_threads(threads)


def save_external(model: onnx.ModelProto, path: Path, location: str) -> None:
    """`model` saved at `path` with all its tensors' data in `location`, a path relative to path's folder."""
    (path.parent / location).parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(copy.deepcopy(model), path, save_as_external_data=True, location=location, size_threshold=0)


def external_model(decoder: bytes, folder: Path) -> tuple[Path, onnx.ModelProto]:
    """The decoder saved as folder/ext.onnx with its weights in folder/ext.bin, and its proto as it is stored (the
    external data not read)."""
    path = folder / "ext.onnx"
    save_external(onnx.load_from_string(decoder), path, "ext.bin")
    return path, onnx.load(path, load_external_data=False)


def written(folder: Path, model: onnx.ModelProto | bytes, name: str = "model.onnx") -> Path:
    path = folder / name
    path.write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    return path


def small_model(
    nodes: list[onnx.NodeProto],
    inputs=(("z", ["batch", 4]),),
    outputs=(("y", ["batch", 4]),),
    opsets=(("", 18),),
    **graph_fields,
) -> onnx.ModelProto:
    """A float graph of `nodes`, named value infos for its inputs and outputs."""
    graph = oh.make_graph(
        nodes,
        "small",
        [oh.make_tensor_value_info(name, TensorProto.FLOAT, dims) for name, dims in inputs],
        [oh.make_tensor_value_info(name, TensorProto.FLOAT, dims) for name, dims in outputs],
        **graph_fields,
    )
    return oh.make_model(graph, opset_imports=[oh.make_opsetid(domain, version) for domain, version in opsets])


def neg() -> onnx.NodeProto:
    return oh.make_node("Neg", ["z"], ["b"])


def branch(node: onnx.NodeProto) -> onnx.GraphProto:
    """A subgraph of `node`, whose output is b (batch, 4)."""
    return oh.make_graph([node], "branch", [], [oh.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 4])])


def with_if(then: onnx.GraphProto, otherwise: onnx.GraphProto) -> onnx.ModelProto:
    """y = then if sum(z) > 0 else otherwise: a decoder with a branch, each branch a subgraph."""
    nodes = [
        oh.make_node("ReduceSum", ["z"], ["s"], keepdims=0),
        oh.make_node("Greater", ["s", "zero"], ["positive"]),
        oh.make_node("If", ["positive"], ["y"], then_branch=then, else_branch=otherwise),
    ]
    return small_model(nodes, initializer=[oh.make_tensor("zero", TensorProto.FLOAT, [], [0.0])])


def with_function(body: list[onnx.NodeProto], domain: str = "pkg.torch") -> onnx.ModelProto:
    """y = Block(z), Block a model-local function in `domain` whose body is `body` (x -> out), as torch's exporter
    writes modules kept as functions."""
    function = oh.make_function(domain, "Block", ["x"], ["out"], body, [oh.make_opsetid("", 18)])
    model = small_model([oh.make_node("Block", ["z"], ["y"], domain=domain)], opsets=(("", 18), (domain, 1)))
    model.functions.append(function)
    return model


def run(model: onnx.ModelProto, z: np.ndarray) -> np.ndarray:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: z})[0]


def refused(path: Path, *words: str, max_bytes: int = MAX_ONNX_BYTES) -> str:
    """The message read_onnx refuses `path` with, checked to start with the path and hold each of `words`."""
    with pytest.raises(ONNXFileError) as caught:
        read_onnx(path, max_bytes)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    for word in words:
        assert word in message, message
    return message


# What opens


def test_exported_decoder_opens_with_its_inputs_and_outputs(decoder, tmp_path):
    model = read_onnx(written(tmp_path, decoder))
    assert graph_io(model) == ({"z": ("batch", 4)}, {"images": ("batch", 1, 28, 28)})
    z = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    assert run(model, z).shape == (3, 1, 28, 28)


def test_graph_io_leaves_out_initialisers_and_keeps_unknown_dims(tmp_path):
    model = small_model(
        [oh.make_node("Add", ["z", "w"], ["y"])],
        inputs=(("z", ["batch", None]), ("w", [4])),  # w listed as an input, as IR version 3 required
        outputs=(("y", [None, 4]),),
        initializer=[oh.make_tensor("w", TensorProto.FLOAT, [4], [1, 2, 3, 4])],
    )
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "width"
    assert graph_io(read_onnx(written(tmp_path, model))) == ({"z": ("batch", None)}, {"y": (None, "width")})


def test_external_data_inside_the_folder_runs_like_the_embedded_model(decoder, tmp_path):
    path = tmp_path / "decoder.onnx"
    save_external(onnx.load_from_string(decoder), path, "weights/decoder.bin")  # a subfolder is inside too
    stored = onnx.load(path, load_external_data=False)
    # The weights really are in the other file.
    assert stored.graph.initializer and not any(t.HasField("raw_data") for t in stored.graph.initializer)
    assert all(t.data_location == TensorProto.EXTERNAL for t in stored.graph.initializer)
    z = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    embedded = read_onnx(written(tmp_path, decoder, "embedded.onnx"))
    assert np.array_equal(run(read_onnx(path), z), run(embedded, z))


def test_a_symlink_inside_the_folder_opens(decoder, tmp_path):
    (tmp_path / "models").mkdir()
    written(tmp_path / "models", decoder, "real.onnx")
    (tmp_path / "decoder.onnx").symlink_to("models/real.onnx")
    assert graph_io(read_onnx(tmp_path / "decoder.onnx"))[0] == {"z": ("batch", 4)}


def test_local_functions_of_standard_ops_open_inlined(tmp_path):
    """A torch export may keep modules as model-local functions: they are judged, and run, by their bodies."""
    model = read_onnx(written(tmp_path, with_function([oh.make_node("Relu", ["x"], ["out"])])))
    assert not model.functions and [node.op_type for node in model.graph.node] == ["Relu"]
    z = np.array([[-1, 2, -3, 4]], dtype=np.float32)
    assert np.array_equal(run(model, z), np.maximum(z, 0))


def test_subgraphs_of_standard_ops_open(tmp_path):
    model = read_onnx(written(tmp_path, with_if(branch(oh.make_node("Relu", ["z"], ["b"])), branch(neg()))))
    z = np.array([[-1, 2, -3, 4]], dtype=np.float32)
    assert np.array_equal(run(model, z), np.maximum(z, 0)) and np.array_equal(run(model, -z), z)


# The file itself


def test_missing_file(tmp_path):
    refused(tmp_path / "decoder.onnx", "does not exist")


def test_broken_symlink(tmp_path):
    (tmp_path / "decoder.onnx").symlink_to("gone.onnx")
    refused(tmp_path / "decoder.onnx", "does not exist", "broken symbolic link")


def test_folder(tmp_path):
    (tmp_path / "decoder.onnx").mkdir()
    refused(tmp_path / "decoder.onnx", "is a folder")


def test_symlink_outside_the_folder(decoder, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "model").mkdir()
    target = written(tmp_path / "elsewhere", decoder, "decoder.onnx")
    (tmp_path / "model" / "decoder.onnx").symlink_to(target)
    refused(tmp_path / "model" / "decoder.onnx", "symbolic link", str(target), "outside its folder")


def test_unreadable_path_says_why(tmp_path):
    (tmp_path / "loop.onnx").symlink_to("loop.onnx")
    refused(tmp_path / "loop.onnx", "cannot be read", "Too many levels of symbolic links")
    refused(tmp_path / ("d" * 300 + ".onnx"), "cannot be read", "File name too long")


def test_pipe_is_not_opened(tmp_path):
    os.mkfifo(tmp_path / "decoder.onnx")
    refused(tmp_path / "decoder.onnx", "not a regular file")


def test_size_is_checked_by_stat_before_reading(decoder, tmp_path, monkeypatch):
    big = tmp_path / "big.onnx"
    with open(big, "wb") as f:  # 600 MiB that take no disk: a sparse file
        f.truncate(600 << 20)
    small = written(tmp_path, decoder)

    def no_open(*args):
        raise AssertionError("the file was opened before its size was checked")

    monkeypatch.setattr(onnxfile.os, "open", no_open)
    refused(big, "600.0 MiB", "more than the 512.0 MiB")
    refused(small, f"{len(decoder):,} bytes", f"more than the {len(decoder) - 1:,} bytes", max_bytes=len(decoder) - 1)


def test_external_data_counts_towards_the_size(decoder, tmp_path):
    path, _ = external_model(decoder, tmp_path)
    total = path.stat().st_size + (tmp_path / "ext.bin").stat().st_size
    assert read_onnx(path, max_bytes=total)
    refused(path, "with its external data", f"is {total:,} bytes", max_bytes=total - 1)


# Bytes that are no ONNX model


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (28, 28), 128).save(buffer, format="PNG")
    return buffer.getvalue()


NOT_MODELS = {
    "empty": lambda d: b"",
    "truncated": lambda d: d[: len(d) // 2],
    "bit-flipped": lambda d: bytes([d[0] ^ 0x07]) + d[1:],  # the first field's wire type becomes 7, which none has
    "random": lambda d: np.random.default_rng(0).bytes(4096),
    "pickle": lambda d: pickle.dumps({"state_dict": {"weight": [0.5] * 16}}),
    "png": lambda d: png_bytes(),
    "text": lambda d: b"ir_version: 8\ngraph { name: 'not binary' }\n",  # the text format is not read
}


@pytest.mark.parametrize("kind", NOT_MODELS)
def test_bytes_that_are_not_a_model(kind, decoder, tmp_path):
    message = refused(written(tmp_path, NOT_MODELS[kind](decoder), "decoder.onnx"))
    assert ("is empty" if kind == "empty" else "is not an ONNX model") in message


# External data that leaves the folder, or is not there


def pointed(decoder: bytes, folder: Path, **entries: str) -> Path:
    """The external-data decoder in `folder` with its first tensor's external entries replaced by `entries`."""
    path, model = external_model(decoder, folder)
    tensor = model.graph.initializer[0]
    del tensor.external_data[:]
    for key, value in entries.items():
        tensor.external_data.add(key=key, value=value)
    return written(folder, model, path.name)


@pytest.fixture
def secret(tmp_path) -> Path:
    """A file beside the model's folder, which a model in the folder must not read."""
    path = tmp_path / "secret.bin"
    path.write_bytes(SECRET)
    (tmp_path / "model").mkdir()
    return path


def test_external_absolute_path(decoder, secret):
    refused(pointed(decoder, secret.parent / "model", location=str(secret)), "absolute path", str(secret))


def test_external_dot_dot(decoder, secret):
    refused(pointed(decoder, secret.parent / "model", location="../secret.bin"), "'..'", "leaves the model's folder")
    # even where it comes back in: the folder's own file, the long way round
    refused(pointed(decoder, secret.parent / "model", location="../model/ext.bin"), "'..'")


def test_external_symlink_outside(decoder, secret):
    folder = secret.parent / "model"
    (folder / "weights.bin").symlink_to(secret)
    refused(pointed(decoder, folder, location="weights.bin"), "leads outside the model's folder", str(secret))
    (folder / "sub").symlink_to(secret.parent)  # a linked folder, not file
    refused(pointed(decoder, folder, location="sub/secret.bin"), "leads outside the model's folder")


def test_external_symlink_inside_is_refused_as_onnx_would(decoder, tmp_path):
    (tmp_path / "link.bin").symlink_to("ext.bin")
    refused(pointed(decoder, tmp_path, location="link.bin"), "symbolic link", "regular files")


def test_external_missing_file(decoder, tmp_path):
    refused(pointed(decoder, tmp_path, location="gone.bin"), "'gone.bin'", "does not exist")
    refused(pointed(decoder, tmp_path, offset="0"), "names no file")


def test_external_location_that_is_not_text(decoder, tmp_path):
    path = pointed(decoder, tmp_path, location="?ext.bin")
    stored = path.read_bytes()
    assert stored.count(b"?ext.bin") == 1
    path.write_bytes(stored.replace(b"?ext.bin", b"\xffext.bin"))  # invalid UTF-8, as a damaged file may have
    refused(path, "has a 'location' that is not UTF-8 text")


@pytest.mark.parametrize(
    "entries, words",
    [
        ({"offset": "1000000"}, ["starts at byte 1,000,000 of 'ext.bin'"]),
        ({"offset": "16", "length": "1000000"}, ["asks for bytes 16 to 1,000,016"]),
        ({"length": "-4"}, ["'-4', not a whole number of bytes"]),
        ({"offset": "1_0"}, ["'1_0', not a whole number of bytes"]),
        ({"colour": "red"}, ["unknown key 'colour'"]),
    ],
)
def test_external_ranges_past_the_end_or_malformed(entries, words, decoder, tmp_path):
    path = pointed(decoder, tmp_path, location="ext.bin", **entries)
    if "offset" in entries and entries["offset"].isdigit():
        assert int(entries["offset"]) < MAX_ONNX_BYTES  # refused for the file's end, not for the size limit
    refused(path, "of tensor 'model.decoder.0.weight'", *words)


def test_external_data_in_subgraphs_and_sparse_initialisers_is_checked(secret):
    """onnx's own external-data walk leaves out sparse initialisers; read_onnx does not."""
    folder = secret.parent / "model"
    outside = {"location": "../secret.bin", "offset": "0", "length": "16"}

    def external(tensor: TensorProto) -> TensorProto:
        tensor.ClearField("float_data")
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in outside.items():
            tensor.external_data.add(key=key, value=value)
        return tensor

    weights = external(oh.make_tensor("w", TensorProto.FLOAT, [4], [1, 2, 3, 4]))
    add = branch(oh.make_node("Add", ["z", "w"], ["b"]))
    add.initializer.append(weights)
    refused(written(folder, with_if(add, branch(neg()))), "of tensor 'w'", "'..'")

    values = external(oh.make_tensor("sv", TensorProto.FLOAT, [4], [1, 2, 3, 4]))
    sparse = oh.make_sparse_tensor(values, oh.make_tensor("si", TensorProto.INT64, [4], [0, 1, 2, 3]), [4])
    model = small_model([oh.make_node("Add", ["z", "sv"], ["y"])], sparse_initializer=[sparse])
    refused(written(folder, model), "of tensor 'sv'", "'..'")

    constant = oh.make_node("Constant", [], ["c"], value=external(oh.make_tensor("k", TensorProto.FLOAT, [4], [0] * 4)))
    model = small_model([constant, oh.make_node("Add", ["z", "c"], ["y"])])
    refused(written(folder, model), "of tensor 'k'", "'..'")


# The graph


def test_opset_too_old(tmp_path):
    model = small_model([oh.make_node("Relu", ["z"], ["y"])], opsets=(("", MIN_OPSET - 1),))
    refused(written(tmp_path, model), f"opset {MIN_OPSET - 1}", f"older than {MIN_OPSET}")


def test_no_opset(tmp_path):
    model = small_model([oh.make_node("Relu", ["z"], ["y"])], opsets=(("ai.onnx.ml", 3),))
    refused(written(tmp_path, model), "no opset of the default ONNX domain")


def test_custom_operator(tmp_path):
    model = small_model([oh.make_node("FusedGemm", ["z"], ["y"], domain="com.microsoft")])
    model.opset_import.append(oh.make_opsetid("com.microsoft", 1))
    refused(written(tmp_path, model), "'FusedGemm' of domain 'com.microsoft'", "not standard ONNX")


def test_custom_operator_in_a_subgraph(tmp_path):
    evil = oh.make_node("Evil", ["z"], ["b"], domain="com.example")
    model = with_if(branch(neg()), branch(evil))
    model.opset_import.append(oh.make_opsetid("com.example", 1))
    refused(written(tmp_path, model), "'Evil' of domain 'com.example'")


def test_custom_operator_inside_a_local_function(tmp_path):
    model = with_function([oh.make_node("Evil", ["x"], ["out"], domain="com.example")])
    model.functions[0].opset_import.append(oh.make_opsetid("com.example", 1))
    model.opset_import.append(oh.make_opsetid("com.example", 1))
    refused(written(tmp_path, model), "'Evil' of domain 'com.example'")


def test_recursive_local_function(tmp_path):
    model = with_function([oh.make_node("Block", ["x"], ["out"], domain="pkg.torch")])
    model.functions[0].opset_import.append(oh.make_opsetid("pkg.torch", 1))
    refused(written(tmp_path, model), "functions cannot be inlined", "must not be recursive")


def test_nesting_deeper_than_protobuf_reads(tmp_path):
    """Graphs one inside the other, each in an attribute of a node of the one above: made as bytes, since protobuf's
    Python side refuses to build what it cannot read. 33 levels parse; 200 do not, and are refused in words."""

    def field(number: int, body: bytes) -> bytes:  # a length-delimited field: tag, length as 3 varint bytes, body
        length = bytes([len(body) & 0x7F | 0x80, len(body) >> 7 & 0x7F | 0x80, len(body) >> 14])
        return bytes([number << 3 | 2]) + length + body

    def nested(depth: int) -> bytes:
        graph = b""
        for _ in range(depth):  # GraphProto.node (1) -> NodeProto.attribute (5) -> AttributeProto.g (6) -> GraphProto
            graph = field(1, field(5, field(6, graph)))
        opset = onnx.OperatorSetIdProto(domain="", version=18).SerializeToString()
        return b"\x08\x0a" + field(8, opset) + field(7, graph)  # ir_version 10, opset_import, graph

    onnx.ModelProto().ParseFromString(nested(33))
    refused(written(tmp_path, nested(200)), "is not an ONNX model", "do not parse")


def test_model_the_checker_rejects(tmp_path):
    refused(written(tmp_path, small_model([oh.make_node("Relu", ["nowhere"], ["y"])])), "not a valid ONNX model")
    refused(written(tmp_path, small_model([oh.make_node("Reluu", ["z"], ["y"])])), "not a valid ONNX model", "Reluu")


def test_graph_without_inputs(tmp_path):
    constant = oh.make_node("Constant", [], ["y"], value=oh.make_tensor("c", TensorProto.FLOAT, [1, 4], [0] * 4))
    refused(written(tmp_path, small_model([constant], inputs=())), "no inputs")
    only_weights = small_model(
        [oh.make_node("Relu", ["w"], ["y"])],
        inputs=(("w", [1, 4]),),
        initializer=[oh.make_tensor("w", TensorProto.FLOAT, [1, 4], [0] * 4)],
    )
    refused(written(tmp_path, only_weights), "no inputs")


def test_graph_without_outputs(tmp_path):
    refused(written(tmp_path, small_model([oh.make_node("Relu", ["z"], ["y"])], outputs=())), "no outputs")


@pytest.mark.parametrize("text, words", [(b"zq", "input b'\\xffq'"), (b"bq", "input 'zq'")])
def test_names_and_dims_that_are_not_text(text, words, tmp_path):
    """Protobuf hands invalid UTF-8 over as bytes, which the checker lets through: read_onnx does not."""
    model = small_model([oh.make_node("Relu", ["zq"], ["y"])], inputs=(("zq", ["bq", 4]),), outputs=(("y", ["bq", 4]),))
    stored = model.SerializeToString()
    path = written(tmp_path, stored.replace(text, b"\xff" + text[1:]))
    refused(path, words, "not UTF-8 text")


def test_the_limits_are_the_documented_ones():
    assert MAX_ONNX_BYTES == 512 * 2**20 and MIN_OPSET == 13
    assert STANDARD_DOMAINS == {"", "ai.onnx", "ai.onnx.ml"}


# The fuzzer


def outcome(path: Path) -> str:
    """ "opened" or "refused" for `path`, checked; any other exception propagates."""
    try:
        model = read_onnx(path, FUZZ_MAX_BYTES)
    except ONNXFileError as err:
        message = str(err)
        assert message.startswith(f"{path}: ") and len(message) > len(str(path)) + 12, message
        return "refused"
    inputs, outputs = graph_io(model)
    assert inputs and outputs
    for dims in (*inputs.values(), *outputs.values()):
        assert dims is None or all(d is None or isinstance(d, int | str) for d in dims)
    assert all(isinstance(name, str) for name in (*inputs, *outputs))
    assert SECRET[:32] not in model.SerializeToString()  # nothing from outside the folder was read in
    return "opened"


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory, decoder):
    """A model's folder in its own world: ext.bin (the decoder's weights), big.bin (over FUZZ_MAX_BYTES), a link
    inside and links out, a subfolder, and outside it secret.bin."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "secret.bin").write_bytes(SECRET)
    folder = root / "model"
    folder.mkdir()
    external_model(decoder, folder)
    with open(folder / "big.bin", "wb") as f:
        f.truncate(2 * FUZZ_MAX_BYTES)
    (folder / "sub").mkdir()
    (folder / "sub" / "w.bin").write_bytes(bytes(range(256)) * 4)
    (folder / "link-in.bin").symlink_to("ext.bin")
    (folder / "link-out.bin").symlink_to(root / "secret.bin")
    (folder / "folder-out").symlink_to(root)
    return folder


def fuzz(examples: int, models: st.SearchStrategy, folder: Path) -> dict[str, int]:
    """Write `examples` draws of `models` (bytes or ModelProtos) to folder/model.onnx and check each's outcome."""
    counts = {"opened": 0, "refused": 0}

    @fuzz_settings(examples)
    @given(models)
    def try_one(model):
        counts[outcome(written(folder, model))] += 1

    try_one()
    assert sum(counts.values()) >= examples  # the budget was spent
    return counts


@pytest.mark.slow
def test_random_bytes(decoder, fuzz_folder):
    """Noise, alone or after the decoder's first bytes, so that parsing gets under way."""
    prefixes = st.sampled_from((b"", decoder[:2], decoder[:64], decoder[: len(decoder) // 2]))
    noise = st.builds(lambda prefix, tail: prefix + tail, prefixes, st.binary(max_size=2048))
    assert fuzz(RANDOM_BYTES_EXAMPLES, noise, fuzz_folder)["refused"] > 0


@st.composite
def damaged(draw, originals: list[bytes]) -> bytes:
    """Bits flipped, byte ranges overwritten with noise, then perhaps cut short."""
    data = bytearray(draw(st.sampled_from(originals)))
    anywhere = st.integers(0, len(data) - 1)
    for _ in range(draw(st.integers(0, 6))):
        data[draw(anywhere)] ^= 1 << draw(st.integers(0, 7))
    for _ in range(draw(st.integers(0, 2))):
        start = draw(anywhere)
        noise = draw(st.binary(min_size=1, max_size=64))
        data[start : start + len(noise)] = noise
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data) - 1))]
    return bytes(data)


@pytest.mark.slow
def test_damaged_decoders(decoder, fuzz_folder):
    stored = (fuzz_folder / "ext.onnx").read_bytes()  # the one whose weights are in ext.bin
    counts = fuzz(DAMAGED_FILE_EXAMPLES, damaged([decoder, stored]), fuzz_folder)
    assert counts["opened"] > 0 and counts["refused"] > 0


# Mutations at the protobuf level

OP_TYPES = ("Relu", "Neg", "Identity", "Gemm", "Conv", "If", "Loop", "Evil", "FusedGemm", "", "Reluu")
DOMAINS = (
    *sorted(STANDARD_DOMAINS),
    "ai.onnx.preview.training",
    "com.microsoft",
    "pkg.torch",
    "com.example",
    "x" * 500,
)
FILES = ("ext.bin", "sub/w.bin", "big.bin")  # the regular files in the fuzzed model's folder
LOCATIONS = (
    "ext.bin",
    "sub/w.bin",
    "./ext.bin",
    "../secret.bin",
    "../model/ext.bin",
    "sub/../ext.bin",
    "link-in.bin",
    "link-out.bin",
    "folder-out/secret.bin",
    "/etc/passwd",
    "//etc/passwd",
    "\\..\\secret.bin",
    "sub",
    "gone.bin",
    "big.bin",
    "a" * 300,
    "/".join(["a"] * 3000),
    "ext.bin\0.txt",
    "",
)
NUMBERS = st.one_of(
    st.integers(0, 13_000).map(str),  # ext.bin has about 12,000 bytes, sub/w.bin 1,024, big.bin 2 MiB
    st.integers(0, 2**64).map(str),
    st.sampled_from(("-1", "1_0", " 8", "١٢", "1e3", "", "9" * 40)),
)
texts = st.text(max_size=20)


def mutate_external(draw, model: onnx.ModelProto) -> None:
    """Point a tensor at a location, perhaps with a range, perhaps with a key twice or one onnx does not know."""
    tensors = list(onnxfile._tensors(model))
    if not tensors:  # the function model has none
        return
    tensor = draw(st.sampled_from(tensors))
    tensor.data_location = draw(st.sampled_from((TensorProto.EXTERNAL, TensorProto.EXTERNAL, TensorProto.DEFAULT)))
    del tensor.external_data[:]
    entries = [("location", draw(st.sampled_from(FILES) | st.sampled_from(LOCATIONS) | texts))]
    entries += [(key, draw(NUMBERS)) for key in ("offset", "length") if draw(st.booleans())]
    if draw(st.integers(0, 3)) == 0:
        entries.append((draw(st.sampled_from(("location", "checksum", "colour"))), draw(texts)))
    for key, value in draw(st.permutations(entries)):
        tensor.external_data.add(key=key, value=value)


def mutate_node(draw, model: onnx.ModelProto) -> None:
    nodes = [node for graph in onnxfile._graphs(model) for node in graph.node]
    node = draw(st.sampled_from(nodes))
    node.op_type = draw(st.one_of(st.sampled_from(OP_TYPES), texts))
    node.domain = draw(st.one_of(st.sampled_from(DOMAINS), texts))


def mutate_dims(draw, model: onnx.ModelProto) -> None:
    values = [*model.graph.input, *model.graph.output]
    if not values:  # mutate_io took them all
        return
    value = draw(st.sampled_from(values))
    shape = value.type.tensor_type.shape
    if draw(st.booleans()):
        value.type.tensor_type.ClearField("shape")
        return
    del shape.dim[:]
    for _ in range(draw(st.integers(0, 6))):
        dim = shape.dim.add()
        kind = draw(st.sampled_from(("value", "param", "unknown")))
        if kind == "value":
            dim.dim_value = draw(st.integers(-(2**63), 2**63 - 1))
        elif kind == "param":
            dim.dim_param = draw(texts)


def mutate_opset(draw, model: onnx.ModelProto) -> None:
    entry = draw(st.sampled_from(model.opset_import))
    entry.domain = draw(st.sampled_from((*DOMAINS, "ai.onnx")))
    entry.version = draw(st.one_of(st.integers(0, 30), st.integers(-(2**63), 2**63 - 1)))


def mutate_io(draw, model: onnx.ModelProto) -> None:
    field = draw(st.sampled_from((model.graph.input, model.graph.output)))
    if field and draw(st.booleans()):
        del field[draw(st.integers(0, len(field) - 1))]
    else:
        field.add().CopyFrom(oh.make_tensor_value_info(draw(texts), TensorProto.FLOAT, ["batch"]))


def mutate_function(draw, model: onnx.ModelProto) -> None:
    """Wrap a node's operator in a local function, its body a standard op or not."""
    node = draw(st.sampled_from(model.graph.node))
    body = oh.make_node(draw(st.sampled_from(OP_TYPES)), ["x"], ["out"], domain=draw(st.sampled_from(DOMAINS)))
    domain = draw(st.sampled_from(DOMAINS))
    model.functions.append(oh.make_function(domain, "F", ["x"], ["out"], [body], [oh.make_opsetid("", 18)]))
    node.op_type, node.domain = "F", domain
    del node.input[1:], node.output[1:], node.attribute[:]


# External data most often: it has the most ways to go wrong. A changed opset refuses all else: least often.
MUTATIONS = (mutate_external,) * 3 + (mutate_node, mutate_dims, mutate_io, mutate_function) * 2 + (mutate_opset,)


@st.composite
def mutated(draw, originals: list[onnx.ModelProto]) -> onnx.ModelProto:
    model = copy.deepcopy(draw(st.sampled_from(originals)))
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), max_size=3)):
        mutation(draw, model)
    return model


@pytest.mark.slow
def test_mutated_models(decoder, fuzz_folder):
    """The embedded decoder, the one with its weights in ext.bin, and small graphs with a branch and a local
    function, each with up to 3 mutations: external data, operators, dims, opsets, inputs and outputs, functions."""
    stored = onnx.load(fuzz_folder / "ext.onnx", load_external_data=False)
    initialised = with_if(branch(oh.make_node("Relu", ["z"], ["b"])), branch(neg()))
    function = with_function([oh.make_node("Neg", ["x"], ["out"])])
    originals = [onnx.load_from_string(decoder), stored, initialised, function]
    counts = fuzz(MUTATED_MODEL_EXAMPLES, mutated(originals), fuzz_folder)
    assert counts["opened"] > 0 and counts["refused"] > 0
