"""Reading an ONNX file genviz did not write, checked before anything runs it.

An ONNX file is data, but hostile data can point its weights at any file on the machine (external data with an
absolute location, `..`, or a symbolic link), claim more memory than there is, or call operators that only some
runtimes have (custom domains, which onnxruntime may load from native libraries). `read_onnx` refuses each of these
with an ONNXFileError naming the file and what is wrong, before a byte of external data is read, and returns the
model only once onnx's checker has passed it.

The order matters: the size by stat before reading; the bytes parsed with external data left where it is; every
external tensor's location and range checked, then read; then the opset, the operators (model-local functions
inlined first, so that a torch export's functions are judged by their bodies) and onnx's checker.
"""

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import onnx
import onnx.external_data_helper
import onnx.inliner
from google.protobuf.message import DecodeError

from genviz.files import first_line

MAX_ONNX_BYTES = 512 << 20  # one model file with its external data
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
MIN_OPSET = 13  # of the default domain; older models predate the ops' current definitions (Split, Squeeze, ...)

DEFAULT_DOMAINS = ("", "ai.onnx")  # two names of the same default domain
# The keys an external data entry may have (onnx's own list; onnx ignores checksum and basepath when reading).
EXTERNAL_KEYS = frozenset({"location", "offset", "length", "checksum", "basepath"})
DIGITS = re.compile(r"[0-9]+")  # offsets and lengths: ASCII digits only (int() also takes "1_0", " 9" and "١")


class ONNXFileError(ValueError):
    """An ONNX file genviz refuses to open; the message names the file and what is wrong."""


def read_onnx(path: Path, max_bytes: int = MAX_ONNX_BYTES) -> onnx.ModelProto:
    """The checked model of `path`, with any external data read in (only from inside path's folder). Its model-local
    functions come back inlined, as they were checked."""
    path = Path(path)

    def fail(problem: str) -> ONNXFileError:
        return ONNXFileError(f"{path}: {problem}")

    folder, data = _read_file(path, max_bytes, fail)
    model = _parse(data, fail)
    _read_external_data(model, folder, len(data), max_bytes, fail)
    _check_opset(model, fail)
    try:
        model = onnx.inliner.inline_local_functions(model)
    except Exception as e:  # onnx's C++ side raises several types; all mean a model it cannot read
        raise fail(f"is not a valid ONNX model: its functions cannot be inlined ({first_line(e)})") from None
    _check_operators(model, fail)
    try:
        onnx.checker.check_model(model, full_check=False)
    except Exception as e:  # ValidationError, and whatever else the C++ checker meets
        raise fail(f"is not a valid ONNX model ({first_line(e)})") from None
    _check_graph_io(model, fail)
    return model


def graph_io(model: onnx.ModelProto) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """(inputs, outputs) of the main graph: name -> dims, each an int, a str (a symbolic dim such as 'batch') or None
    (unknown). Initialisers listed as inputs are not inputs. A tensor of unknown rank (no shape at all), or a value
    that is no tensor (a sequence, a map), has None for its dims."""
    graph = model.graph
    constants = {tensor.name for tensor in graph.initializer} | {s.values.name for s in graph.sparse_initializer}
    inputs = {value.name: _dims(value.type) for value in graph.input if value.name not in constants}
    return inputs, {value.name: _dims(value.type) for value in graph.output}


def _dims(value_type: onnx.TypeProto) -> tuple | None:
    kind = value_type.WhichOneof("value")
    if kind not in ("tensor_type", "sparse_tensor_type") or not getattr(value_type, kind).HasField("shape"):
        return None
    return tuple(_dim(dim) for dim in getattr(value_type, kind).shape.dim)


def _dim(dim: onnx.TensorShapeProto.Dimension) -> int | str | None:
    which = dim.WhichOneof("value")
    return dim.dim_value if which == "dim_value" else (dim.dim_param or None) if which == "dim_param" else None


# The file


def _read_file(path: Path, max_bytes: int, fail) -> tuple[Path, bytes]:
    """(the real folder of `path`, its bytes), after checking what it is and its size."""
    try:
        folder = Path(os.path.realpath(path.parent))
        if path.is_symlink() and not Path(os.path.realpath(path)).is_relative_to(folder):
            raise fail(f"is a symbolic link to {os.path.realpath(path)}, outside its folder; copy the file in instead")
        info = os.stat(path)
    except FileNotFoundError:
        raise fail("does not exist" + (" (a broken symbolic link)" if path.is_symlink() else "")) from None
    except OSError as e:
        raise fail(f"cannot be read ({e.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise fail("is a folder, not an ONNX file; name the .onnx file inside it")
    if not stat.S_ISREG(info.st_mode):
        raise fail("is not a regular file (a device, pipe or socket)")
    _check_size(info.st_size, max_bytes, "is", fail)
    try:
        # O_NONBLOCK: a file swapped for a pipe since the stat above makes open() return instead of waiting.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise fail("is not a regular file (a device, pipe or socket)")
            data = f.read(max_bytes + 1)  # + 1: a file grown since the stat is still caught
    except OSError as e:
        raise fail(f"cannot be read ({e.strerror})") from None
    _check_size(len(data), max_bytes, "is", fail)
    if not data:
        raise fail("is empty (0 bytes), not an ONNX model")
    return folder, data


def _check_size(size: int, max_bytes: int, what: str, fail) -> None:
    if size > max_bytes:
        raise fail(f"{what} {_amount(size)}, more than the {_amount(max_bytes)} genviz opens")


def _amount(size: int) -> str:
    return f"{size:,} bytes" if size < 1 << 20 else f"{size / 2**20:,.1f} MiB"


def _parse(data: bytes, fail) -> onnx.ModelProto:
    """The ModelProto of `data`, its external data not read: parsing alone never opens another file."""
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RecursionError) as e:
        raise fail(f"is not an ONNX model: its bytes do not parse as one ({first_line(e)})") from None
    except MemoryError:
        raise fail("is not an ONNX model: parsing it ran out of memory") from None
    # Protocol buffers skip fields they do not know, so some other files parse as an empty model.
    if not model.HasField("graph") and not model.opset_import:
        raise fail("is not an ONNX model: it parses, but has neither a graph nor an opset")
    return model


# External data


def _read_external_data(model: onnx.ModelProto, folder: Path, size: int, max_bytes: int, fail) -> None:
    """Read in every tensor kept in another file, once all of them are checked: each file inside `folder`, a
    regular file (not a link), each range inside its file, and `max_bytes` at most with the model's own `size`."""
    external = [t for t in _tensors(model) if t.data_location == onnx.TensorProto.EXTERNAL]
    for tensor in external:
        size += _check_external(tensor, folder, fail)
        _check_size(size, max_bytes, "with its external data, is", fail)  # before reading any of it
    for tensor in external:
        try:
            onnx.external_data_helper.load_external_data_for_tensor(tensor, str(folder))
        except MemoryError:
            raise fail("its external data does not fit in memory") from None
        except Exception as e:  # the checks above leave a file changed since, or one onnx reads differently
            raise fail(f"its external data cannot be read ({first_line(e)})") from None


def _check_external(tensor: onnx.TensorProto, folder: Path, fail) -> int:
    """The bytes `tensor`'s external data will take, once checked."""
    name = tensor.name or "(unnamed)"  # bytes where it is not UTF-8: shown as b'...'

    def bad(problem: str) -> ONNXFileError:
        return fail(f"the external data of tensor {name!r} {problem}")

    entries = {}
    for entry in tensor.external_data:
        key, value = _text(entry.key), _text(entry.value)
        if key not in EXTERNAL_KEYS:
            raise bad(f"has the unknown key {entry.key!r}; known: {', '.join(sorted(EXTERNAL_KEYS))}")
        if key in entries:
            raise bad(f"gives {key!r} twice")
        if value is None:
            raise bad(f"has a {key!r} that is not UTF-8 text")
        entries[key] = value
    location = entries.get("location", "")
    if not location:
        raise bad("names no file (no 'location')")
    if "\0" in location:
        raise bad(f"names a file with a NUL character in it: {location!r}")
    if os.path.isabs(location) or location.startswith("\\"):
        raise bad(f"names the absolute path {location!r}; it must be a file in the model's folder")
    if ".." in re.split(r"[/\\]", location):
        raise bad(f"names {location!r}, whose '..' leaves the model's folder")
    where = folder / location
    try:
        real = Path(os.path.realpath(where))
        if not real.is_relative_to(folder):
            raise bad(f"names {location!r}, which leads outside the model's folder (to {real})")
        if os.path.islink(where):
            raise bad(f"names {location!r}, a symbolic link; onnx reads external data only from regular files")
        info = os.stat(real)
    except FileNotFoundError:
        raise bad(f"names {location!r}, which does not exist in the model's folder") from None
    except OSError as e:
        raise bad(f"names {location!r}, which cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise bad(f"names {location!r}, which is not a regular file")
    for key in ("offset", "length"):
        if key in entries and not DIGITS.fullmatch(entries[key]):
            raise bad(f"has the {key} {entries[key]!r}, not a whole number of bytes")
    offset = int(entries.get("offset", 0))
    if offset > info.st_size:
        raise bad(f"starts at byte {offset:,} of {location!r}, which has {info.st_size:,}")
    length = int(entries["length"]) if "length" in entries else info.st_size - offset
    if offset + length > info.st_size:
        raise bad(f"asks for bytes {offset:,} to {offset + length:,} of {location!r}, which has {info.st_size:,}")
    return length


def _tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every TensorProto of the model: initialisers (sparse ones too) and attributes, in the main graph, its
    subgraphs, its functions and its training graphs. onnx's own walk leaves out the sparse ones."""
    for graph in _graphs(model):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield from (sparse.values, sparse.indices)
        for node in graph.node:
            yield from _node_tensors(node)
    for function in model.functions:
        for node in function.node:
            yield from _node_tensors(node)


def _node_tensors(node: onnx.NodeProto) -> Iterator[onnx.TensorProto]:
    for attribute in node.attribute:
        if attribute.HasField("t"):
            yield attribute.t
        yield from attribute.tensors
        for sparse in [attribute.sparse_tensor] if attribute.HasField("sparse_tensor") else []:
            yield from (sparse.values, sparse.indices)
        for sparse in attribute.sparse_tensors:
            yield from (sparse.values, sparse.indices)
    # Subgraphs' tensors come through _graphs.


def _graphs(model: onnx.ModelProto) -> Iterator[onnx.GraphProto]:
    """The main graph, the training graphs, and every graph inside their nodes' and the functions' attributes."""
    roots = [model.graph] + [g for info in model.training_info for g in (info.initialization, info.algorithm)]
    for graph in roots:
        yield from _with_subgraphs(graph)
    for function in model.functions:
        for node in function.node:
            for subgraph in _subgraphs(node):
                yield from _with_subgraphs(subgraph)


def _with_subgraphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    yield graph
    for node in graph.node:
        for subgraph in _subgraphs(node):
            yield from _with_subgraphs(subgraph)  # as deep as protobuf's nesting limit (100 messages) lets it go


def _subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    """The bodies of If, Loop and Scan, and of any other node with graph attributes."""
    return [g for attribute in node.attribute for g in ([attribute.g] if attribute.HasField("g") else attribute.graphs)]


def _text(value: str | bytes) -> str | None:
    """A string field as text; protobuf hands invalid UTF-8 over as bytes."""
    return value if isinstance(value, str) else None


# The graph


def _check_opset(model: onnx.ModelProto, fail) -> None:
    versions = [entry.version for entry in model.opset_import if entry.domain in DEFAULT_DOMAINS]
    if not versions:
        raise fail("imports no opset of the default ONNX domain; export it again with an opset (18 is genviz's)")
    if min(versions) < MIN_OPSET:
        raise fail(f"uses opset {min(versions)}, older than {MIN_OPSET}; export it again with opset 13 or newer")


def _check_operators(model: onnx.ModelProto, fail) -> None:
    """Refuse the first node, in any graph or function left after inlining, whose operator is not standard ONNX."""
    nodes = [node for graph in _graphs(model) for node in graph.node] + [n for f in model.functions for n in f.node]
    for node in nodes:
        if node.domain not in STANDARD_DOMAINS:
            raise fail(
                f"uses the operator {node.op_type!r} of domain {node.domain!r}, which is not standard ONNX; genviz "
                f"runs only the domains {', '.join(map(repr, sorted(STANDARD_DOMAINS)))}: export it again without "
                "custom ops"
            )


def _check_graph_io(model: onnx.ModelProto, fail) -> None:
    inputs, outputs = graph_io(model)
    if not inputs:
        raise fail("its graph has no inputs (other than its weights); a decoder takes a latent code")
    if not outputs:
        raise fail("its graph has no outputs")
    for kind, values in (("input", inputs), ("output", outputs)):
        for name, dims in values.items():
            if _text(name) is None or any(isinstance(d, bytes) for d in dims or ()):
                raise fail(f"its graph {kind} {name!r} has a name or dimension that is not UTF-8 text")
