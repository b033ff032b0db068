"""Saving and loading models in one file that loading can trust: a zip of JSON and ``.npy`` arrays.

A model file is a zip archive (written byte for byte the same for the same model) holding

- ``model.json``: the document. ``format`` ("fastrnn-model"), ``format_version``, the
  ``fastrnn_version`` that wrote it, the ``class`` (one of :data:`MODEL_CLASSES`), its constructor
  ``params``, and for an estimator its fitted ``attributes`` (everything it learned that is not a
  weight: classes, vocabularies, curves, counters, the random generator's state), its ``network``
  (class and constructor arguments) and its ``optimizer`` (class, arguments, steps taken and state,
  so that ``partial_fit`` and ``warm_start`` continue exactly); ``weights`` maps every parameter's
  PyTorch name to its member;
- ``weights/<name>.npy``: one array per parameter, in the order of the model's flat parameter
  buffer; ``arrays/<attribute>.npy``: the other arrays the document refers to.

Values in ``params`` and ``attributes`` are JSON's own (null, booleans, numbers, strings, lists);
JSON objects are always tagged with one key saying what they stand for: ``{"$tuple": [...]}``,
``{"$dict": {...}}``, ``{"$float": "inf" | "-inf" | "nan"}``, ``{"$array": member}``,
``{"$object_array": [...]}`` (an object array of strings, numbers and booleans, such as class
labels), ``{"$dtype": "float32"}``, ``{"$generator": ...}`` and ``{"$random_state": ...}`` (a numpy
random generator's state), ``{"$param": name}`` (the very object of a constructor parameter, such as
a ``random_state`` Generator the estimator draws from).

Loading never executes code and never unpickles: the classes it can build are the fixed tables
below, built through their constructors from checked values; every ``.npy`` member is read with
its header checked first (no object arrays, as much data as the header says), and the sizes of the
architecture must be those of the stored weights before anything is built, so a small file cannot
ask for a large model. Anything else is refused with a ``ValueError`` naming the file and the
reason.
"""

import copy
import io
import json
import os
import re
import zipfile

import numpy as np

from ._files import write_atomically
from .kernels.dispatch import backend_of

FORMAT = "fastrnn-model"
FORMAT_VERSION = 1
_DOCUMENT = "model.json"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the zip members' timestamp: the same model gives the same bytes
# the bit generators a saved numpy Generator / RandomState may name
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
# an attribute a file may set: an identifier, not a dunder, not an attribute of the class
_ATTRIBUTE_NAME = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]*$")
_MAX_LISTED = 5  # names listed in an error message before "and N more"


class SaveMixin:
    """``save`` for the estimators and layers."""

    def save(self, path):
        """Save this model to one file, which :func:`fastrnn.load` reads back.

        The file is a zip of a JSON document and ``.npy`` arrays (the format is described in the
        manual's *Saving and loading* page); loading it never executes code. An estimator is saved
        with everything it learned, the optimizer's state included, so the loaded copy predicts
        bit-identically and ``partial_fit`` / ``warm_start`` continue exactly as this one would.

        Parameters
        ----------
        path : str, os.PathLike or binary file object
            Where to write. A path is written through a temporary file in the same folder that
            replaces ``path`` only when complete, so a failed save leaves no partial file.

        Returns
        -------
        path
            ``path``, as given.

        Raises
        ------
        NotFittedError
            For an estimator that is not fitted.
        ValueError
            When a fitted attribute (class labels, for example) holds values that JSON cannot
            represent exactly; nothing is written then.
        FileNotFoundError
            When the folder of ``path`` does not exist.
        """
        document, arrays = model_document(self)
        write_archive(path, document, arrays)
        return path


class _RefusedFile(ValueError):
    """A model file that ``load`` refuses (the message names the file and the reason)."""


# ---------------------------------------------------------------------------------- the classes
def _model_classes():
    """The classes a file may name as ``class`` (:data:`MODEL_CLASSES`): fastrnn's estimators and layers."""
    from . import estimators, layers

    return {name: getattr(estimators, name, None) or getattr(layers, name) for name in MODEL_CLASSES}


def _optimizer_classes():
    from .optimizers import SGD, Adagrad, Adam

    return {cls.__name__: cls for cls in (SGD, Adam, Adagrad)}


MODEL_CLASSES = ("RNNRegressor", "RNNClassifier", "CharRNN", "Seq2Seq", "RNN", "LSTM", "GRU", "Linear")
"""The classes a model file may hold."""


def _listed(names):
    names = sorted(names)
    shown = ", ".join(repr(name) for name in names[:_MAX_LISTED])
    return f"[{shown}{f', and {len(names) - _MAX_LISTED} more' if len(names) > _MAX_LISTED else ''}]"


# ---------------------------------------------------------------------------------- values
class _Encoder:
    """Turns attribute values into JSON values, collecting the arrays as members
    ``arrays/<attribute>.npy``.

    ``shared`` (set after the parameters are encoded): id -> name of the constructor parameters that
    are mutable objects (a random generator), written as ``{"$param": name}`` where an attribute is
    that same object.
    ``in_memory``: the document is copied in memory, not written, so values JSON cannot hold are
    kept by reference (copied) instead of refused.
    """

    def __init__(self, arrays, in_memory=False):
        self.arrays = arrays  # member name -> ndarray, shared with the weights
        self.shared = {}
        self.in_memory = in_memory
        self.kept = []        # in memory: the values held by reference

    def __call__(self, value, where):
        if id(value) in self.shared:
            return {"$param": self.shared[id(value)]}
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            value = float(value)
            if np.isfinite(value):
                return value
            return {"$float": "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")}
        if isinstance(value, list):
            return [self(item, f"{where}[{k}]") for k, item in enumerate(value)]
        if isinstance(value, tuple):
            return {"$tuple": [self(item, f"{where}[{k}]") for k, item in enumerate(value)]}
        if isinstance(value, dict) and all(isinstance(key, str) for key in value):
            return {"$dict": {key: self(item, f"{where}[{key!r}]") for key, item in value.items()}}
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if isinstance(value, np.random.Generator):
            return {"$generator": self(value.bit_generator.state, f"{where}.bit_generator.state")}
        if isinstance(value, np.random.RandomState):
            return {"$random_state": self(value.get_state(legacy=False), f"{where}.state")}
        if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
            return {"$dtype": np.dtype(value).name}
        return self._unrepresentable(value, where, f"holds a {type(value).__name__}")

    def _array(self, array, where):
        if array.dtype.hasobject:
            items = array.ravel().tolist()
            strange = [item for item in items if not _exact_in_json(item)]
            if strange:
                return self._unrepresentable(
                    array, where, f"holds {strange[0]!r} of type {type(strange[0]).__name__}",
                    "(it stores strings, integers, booleans and finite floats). Use labels of one of these "
                    "types, for example by encoding them as strings.")
            return {"$object_array": items, "shape": list(array.shape)}
        member = f"arrays/{re.sub(r'[^A-Za-z0-9_.-]', '_', where)}.npy"
        while member in self.arrays:
            member = member[:-len(".npy")] + "_.npy"
        self.arrays[member] = array
        return {"$array": member}

    def _unrepresentable(self, value, where, what, advice=""):
        if self.in_memory:
            self.kept.append(copy.deepcopy(value))
            return {"$kept": len(self.kept) - 1}
        raise ValueError(f"{where} {what}, which a fastrnn model file cannot store exactly {advice}".rstrip() + ".")


def _exact_in_json(item):
    """Whether an element of an object array (a class label, a token) is one JSON holds exactly."""
    return isinstance(item, (bool, int, str)) or (isinstance(item, float) and np.isfinite(item))


class _Decoder:
    """The inverse of :class:`_Encoder`, reading arrays through an :class:`_ArrayReader`;
    ``params`` are the decoded constructor parameters (for ``$param``)."""

    def __init__(self, reader, params=None, kept=()):
        self.reader = reader
        self.params = params or {}
        self.kept = kept

    def __call__(self, value, where):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [self(item, f"{where}[{k}]") for k, item in enumerate(value)]
        if not isinstance(value, dict) or not value:
            raise self.reader.error(f"{where} holds a value of type {type(value).__name__}")
        tag = next(iter(value))
        body = value[tag]
        if tag == "$tuple" and len(value) == 1 and isinstance(body, list):
            return tuple(self(item, f"{where}[{k}]") for k, item in enumerate(body))
        if tag == "$dict" and len(value) == 1 and isinstance(body, dict):
            return {key: self(item, f"{where}[{key!r}]") for key, item in body.items()}
        if tag == "$float" and len(value) == 1 and body in ("inf", "-inf", "nan"):
            return float(body)
        if tag == "$array" and len(value) == 1 and isinstance(body, str):
            return self.reader.array(body, where)
        if tag == "$object_array" and set(value) == {"$object_array", "shape"}:
            return self._object_array(body, value["shape"], where)
        if tag == "$dtype" and len(value) == 1 and body in ("float32", "float64"):
            return np.dtype(body).type
        if tag == "$generator" and len(value) == 1:
            return np.random.Generator(self._bit_generator(self(body, where), where))
        if tag == "$random_state" and len(value) == 1:
            return self._random_state(self(body, where), where)
        if tag == "$param" and len(value) == 1 and body in self.params:
            return self.params[body]
        if tag == "$kept" and len(value) == 1 and isinstance(body, int) and 0 <= body < len(self.kept):
            return copy.deepcopy(self.kept[body])
        raise self.reader.error(f"{where} holds an object tagged {tag!r} that fastrnn does not know")

    def _object_array(self, items, shape, where):
        if not (isinstance(items, list) and all(_exact_in_json(item) for item in items)
                and isinstance(shape, list) and len(shape) <= 32
                and all(_is_count(n) and n <= max(1, len(items)) for n in shape)
                and _product(shape) == len(items)):
            raise self.reader.error(f"{where} is a malformed object array")
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array.reshape(shape)

    def _bit_generator(self, state, where):
        """A numpy bit generator in ``state`` (a dict naming one of :data:`_BIT_GENERATORS`)."""
        name = state.get("bit_generator") if isinstance(state, dict) else None
        if name not in _BIT_GENERATORS:
            raise self.reader.error(f"{where} names the random bit generator {name!r}, not one of {_BIT_GENERATORS}")
        bit_generator = getattr(np.random, name)()
        try:
            bit_generator.state = state
        except Exception as exc:  # numpy's own checks of the state, whatever they raise
            raise self.reader.error(f"{where} holds an invalid {name} state ({type(exc).__name__}: {exc})") from None
        return bit_generator

    def _random_state(self, state, where):
        """A numpy RandomState with ``state``, its cached Gaussian draw included."""
        if not isinstance(state, dict) or state.get("bit_generator") != "MT19937":
            raise self.reader.error(f"{where} is not the state of a RandomState (MT19937)")
        random_state = np.random.RandomState()
        try:
            random_state.set_state(state)
        except Exception as exc:
            raise self.reader.error(f"{where} holds an invalid RandomState state ({type(exc).__name__}: "
                                    f"{exc})") from None
        return random_state


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _product(shape):
    """The number of elements of ``shape``, in Python integers (no overflow)."""
    count = 1
    for n in shape:
        count *= n
    return count


# ---------------------------------------------------------------------------------- documents
def model_document(model, in_memory=False):
    """The JSON document of a fitted estimator or a layer, and its arrays (member name -> ndarray).

    ``in_memory``: for a copy that is never written (values JSON cannot hold are kept by reference,
    under ``"kept"``)."""
    from .layers import _Module

    arrays = {}
    if isinstance(model, _Module):
        params = _layer_params(model)
        encode = _Encoder(arrays, in_memory=in_memory)
        document = _header(model, {name: encode(value, name) for name, value in params.items()})
        weights = model.params
    else:
        model._check_is_fitted()
        params = model.get_params()
        encode = _Encoder(arrays, in_memory=in_memory)
        document = _header(model, {name: encode(value, name) for name, value in params.items()})
        # an attribute that is a parameter's own generator (``_rng is random_state``) stays that object
        encode.shared = {id(value): name for name, value in params.items()
                         if isinstance(value, (np.random.Generator, np.random.RandomState))}
        network = model.network_
        if (type(network).__name__, network.config()) != model._network_spec():
            raise ValueError(f"{type(model).__name__} cannot be saved: its network ({network.config()}) is no "
                             f"longer the one its parameters describe ({model._network_spec()[1]}). A parameter "
                             f"of the architecture was changed after fit: set it back, or fit again.")
        network.sync_to_host()
        skipped = set(params) | {"network_", "_optimizer"}
        attributes = {}
        for name, value in vars(model).items():
            if name in skipped:
                continue
            if not _ATTRIBUTE_NAME.match(name):
                raise ValueError(f"the attribute {name!r} cannot be saved: a fastrnn model file holds attributes "
                                 f"named like Python identifiers, without leading double underscores.")
            attributes[name] = encode(value, name)
        document["attributes"] = attributes
        document["network"] = {"class": type(network).__name__, "config": network.config()}
        document["optimizer"] = _optimizer_document(getattr(model, "_optimizer", None), encode)
        weights = network.named_parameters()
    if in_memory:
        document["kept"] = encode.kept
    document["weights"] = {}
    for name, array in weights.items():
        member = f"weights/{name}.npy"
        document["weights"][name] = member
        arrays[member] = array
    return document, arrays


def _header(model, params):
    from . import __version__

    return {"format": FORMAT, "format_version": FORMAT_VERSION, "fastrnn_version": __version__,
            "class": type(model).__name__, "params": params}


def _layer_params(layer):
    """A layer's constructor arguments, read from its attributes (``dtype`` as a name)."""
    import inspect

    names = [name for name in inspect.signature(type(layer).__init__).parameters if name != "self"]
    return {name: (np.dtype(layer.dtype).name if name == "dtype" else getattr(layer, name)) for name in names}


def _optimizer_document(optimizer, encode):
    if optimizer is None:
        return None
    state = None
    if optimizer.state is not None:
        if len(optimizer.state) != 1:
            raise ValueError("the optimizer holds state for several parameter buffers; an estimator has one.")
        state = {name: encode(backend_of(array).to_host(array), f"optimizer.{name}")
                 for name, array in optimizer.state[0].items()}
    return {"class": type(optimizer).__name__, "config": optimizer.config(), "steps": optimizer.t, "state": state}


# ---------------------------------------------------------------------------------- writing
def write_archive(path, document, arrays):
    """Write ``document`` and ``arrays`` as a model file at ``path`` (a path: through a temporary file
    in the same folder, renamed when complete; or a binary file object)."""
    text = json.dumps(document, indent=1, allow_nan=False).encode("utf-8")
    if hasattr(path, "write"):
        _write_zip(path, text, arrays)
    else:
        write_atomically(path, lambda file: _write_zip(file, text, arrays))


def _write_zip(file, text, arrays):
    with zipfile.ZipFile(file, "w") as archive:
        _add_member(archive, _DOCUMENT, text, zipfile.ZIP_DEFLATED)
        for member, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            _add_member(archive, member, buffer.getvalue(), zipfile.ZIP_STORED)


def _add_member(archive, name, data, compression):
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


# ---------------------------------------------------------------------------------- reading
_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


class _ArrayReader:
    """Reads ``.npy`` members of an open archive (or of a dict, for in-memory copies), refusing object
    arrays; makes the errors that name the file."""

    def __init__(self, source, name):
        self.source = source  # a zipfile.ZipFile, or a dict member -> ndarray
        self.name = name

    def error(self, reason):
        return _RefusedFile(f"Cannot load {self.name}: {reason}.")

    def header(self, member, where):
        """(shape, dtype) of the ``.npy`` member, checked: no objects, and as much data as it says."""
        if isinstance(self.source, dict):
            array = self._in_memory(member, where)
            return array.shape, array.dtype
        with self._open(member, where) as file:
            shape, _, dtype = self._read_header(file, member, where)
        return shape, dtype

    def array(self, member, where):
        """The ``.npy`` member as an array (a copy)."""
        if isinstance(self.source, dict):
            return np.array(self._in_memory(member, where))
        with self._open(member, where) as file:
            shape, fortran_order, dtype = self._read_header(file, member, where)
            count = _product(shape)
            data = self._guarded(lambda: file.read(count * dtype.itemsize), member, where)
            if len(data) != count * dtype.itemsize:
                raise self.error(f"the array {member} ({where}) is truncated")
            array = np.frombuffer(data, dtype=dtype, count=count).copy()
        return array.reshape(shape[::-1]).T if fortran_order else array.reshape(shape)

    def _in_memory(self, member, where):
        if member not in self.source:
            raise self.error(f"{where} refers to {member!r}, which is missing")
        return self.source[member]

    def _open(self, member, where):
        try:
            self.source.getinfo(member)
        except KeyError:
            raise self.error(f"{where} refers to {member!r}, which is missing from the archive") from None
        return self._guarded(lambda: self.source.open(member), member, where)

    def _read_header(self, file, member, where):
        version = self._guarded(lambda: np.lib.format.read_magic(file), member, where)
        read_header = _NPY_HEADER_READERS.get(version)
        if read_header is None:
            raise self.error(f"{member} ({where}) is an .npy file of version {version}, which fastrnn does not read")
        shape, fortran_order, dtype = self._guarded(lambda: read_header(file), member, where)
        if dtype.hasobject:
            raise self.error(f"{member} ({where}) holds an array of Python objects (dtype {dtype}), which would "
                             f"have to be unpickled; fastrnn never unpickles")
        if not all(_is_count(n) for n in shape):
            raise self.error(f"{member} ({where}) has the impossible shape {shape}")
        declared = _product(shape) * dtype.itemsize
        if declared > self.source.getinfo(member).file_size:
            raise self.error(f"{member} ({where}) says it holds {declared} bytes of data, more than the member's "
                             f"size: it is truncated or forged")
        return shape, fortran_order, dtype

    def _guarded(self, action, member, where):
        """``action()``, with whatever a damaged member makes zipfile, zlib or numpy raise turned into a
        refusal naming the member."""
        try:
            return action()
        except _RefusedFile:
            raise
        except Exception as exc:
            raise self.error(f"the array {member} ({where}) is damaged ({type(exc).__name__}: {exc})") from None


def read_archive(path):
    """Open a model file; return its checked document and an :class:`_ArrayReader` (keep the archive
    open while reading: ``reader.source.close()`` after)."""
    name = "the model file object" if hasattr(path, "read") else repr(os.fsdecode(os.fspath(path)))
    if not hasattr(path, "read"):
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"No fastrnn model file at {name}.")
        if os.path.isdir(path):
            raise _RefusedFile(f"Cannot load {name}: it is a folder, not a fastrnn model file.")
    try:
        archive = zipfile.ZipFile(path)
    except PermissionError as exc:
        raise PermissionError(f"Cannot load {name}: {exc.strerror}.") from None
    except Exception as exc:  # zipfile raises many kinds on a damaged or foreign file
        raise _RefusedFile(f"Cannot load {name}: it is not a fastrnn model file (not a zip archive, or a damaged "
                           f"or truncated one: {type(exc).__name__}: {exc}).") from None
    reader = _ArrayReader(archive, name)
    try:
        try:
            archive.getinfo(_DOCUMENT)
        except KeyError:
            raise reader.error(f"it is not a fastrnn model file (no {_DOCUMENT} inside)") from None
        text = reader._guarded(lambda: archive.read(_DOCUMENT), _DOCUMENT, "the document")
        try:
            document = json.loads(text.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float)
        except (ValueError, RecursionError) as exc:
            raise reader.error(f"{_DOCUMENT} is not valid JSON, or is nested too deeply ({type(exc).__name__}: "
                               f"{exc})") from None
        _check_header(document, reader)
    except BaseException:
        archive.close()
        raise
    return document, reader


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def _finite_float(text):
    """A JSON number as a float, refused when it overflows (1e400 would become inf)."""
    value = float(text)
    if not np.isfinite(value):
        raise ValueError(f"the number {text} is too large for a float")
    return value


def _check_header(document, reader):
    from . import __version__

    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise reader.error(f"it is not a fastrnn model file ({_DOCUMENT} does not say format {FORMAT!r})")
    version = document.get("format_version")
    if not _is_count(version) or version < 1:
        raise reader.error(f"its format_version {version!r} is not a version number")
    if version > FORMAT_VERSION:
        raise reader.error(
            f"it was written by fastrnn {document.get('fastrnn_version')!r} in format version {version}, newer "
            f"than this fastrnn ({__version__}) reads (up to {FORMAT_VERSION}); upgrade fastrnn to load it")
    name = document.get("class")
    if name not in MODEL_CLASSES:
        raise reader.error(f"it names the class {name!r}, which is not a fastrnn model class (one of "
                           f"{', '.join(MODEL_CLASSES)}); nothing else is ever built from a file")
    for key in ("params", "weights"):
        if not isinstance(document.get(key), dict):
            raise reader.error(f"its {key!r} entry is missing or not a JSON object")
    if not all(isinstance(member, str) for member in document["weights"].values()):
        raise reader.error("its 'weights' entry must map parameter names to member names")


# ---------------------------------------------------------------------------------- building
def build_model(document, reader, device=None):
    """The estimator or layer a checked ``document`` describes, with its weights from ``reader``.

    ``device``: None keeps the saved ``device``; else it replaces it (for example "cpu" for a model
    saved with device="cuda", on a machine without a GPU).
    """
    from .layers import _Module

    kept = document.get("kept", ()) if isinstance(reader.source, dict) else ()
    cls = _model_classes()[document["class"]]
    params = {name: _Decoder(reader, kept=kept)(value, f"params[{name!r}]")
              for name, value in document["params"].items()}
    if device is not None:
        params["device"] = device
    shapes = {name: reader.header(member, f"weights[{name!r}]")[0] for name, member in document["weights"].items()}
    if issubclass(cls, _Module):
        return _build_layer(cls, params, shapes, document["weights"], reader)
    model = _construct(cls, params, reader)
    try:
        model._check_parameter_rules()
    except ValueError as exc:
        raise reader.error(str(exc)) from None
    attributes = document.get("attributes")
    if not isinstance(attributes, dict):
        raise reader.error("its 'attributes' entry is missing or not a JSON object")
    decode = _Decoder(reader, params, kept)
    for name, value in attributes.items():
        if not _ATTRIBUTE_NAME.match(name) or name in params or hasattr(cls, name) or \
                name in ("network_", "_optimizer"):
            raise reader.error(f"it sets the attribute {name!r}, which a fitted {cls.__name__} does not have")
        setattr(model, name, decode(value, f"attributes[{name!r}]"))
    if not isinstance(getattr(model, "_rng", None), np.random.Generator):
        raise reader.error("its fitted attributes lack the random generator '_rng' the training draws from")
    model.network_ = _build_network(model, document.get("network"), shapes, reader)
    _load_weights(model.network_.named_parameters(), document["weights"], reader)
    optimizer = _build_optimizer(document.get("optimizer"), reader, model.network_.params, decode)
    if optimizer is not None:
        model._optimizer = optimizer
    return model


def _construct(cls, params, reader):
    try:
        return cls(**params)
    except TypeError as exc:  # unknown or missing constructor arguments
        raise reader.error(f"its params do not fit {cls.__name__}'s constructor ({exc})") from None
    except ValueError as exc:
        raise reader.error(f"its params are not valid for {cls.__name__} ({exc})") from None


def _build_layer(cls, params, shapes, members, reader):
    saved_device = params.get("device", "auto")
    if saved_device not in ("auto", "cpu", "cuda"):
        raise reader.error(f"params['device'] is {saved_device!r}, not one of 'auto', 'cpu', 'cuda'")
    _check_sizes(_layer_sizes(cls, params), shapes, reader)
    params["device"] = "cpu"  # resolved when the layer runs, not now: a GPU layer loads anywhere
    layer = _construct(cls, params, reader)
    _load_weights(layer.params, members, reader)
    layer.device = saved_device
    return layer


def _layer_sizes(cls, params):
    """(size from the params, weight name, axis of its shape that must equal it) of a layer."""
    if "in_features" in params:  # Linear
        return [(params.get("in_features"), "weight", 1), (params.get("out_features"), "weight", 0)]
    layers = params.get("num_layers")
    sizes = [(params.get("input_size"), "weight_ih_l0", 1), (params.get("hidden_size"), "weight_hh_l0", 1)]
    if _is_count(layers):  # the top layer's weights must exist: they bound num_layers by the file's data
        sizes.append((params.get("hidden_size"), f"weight_hh_l{layers - 1}", 1))
    return sizes


def _network_sizes(name, config):
    """(size from the network's config, weight name, axis of its shape that must equal it)."""
    sizes = config.get("hidden_sizes")
    sizes = sizes if isinstance(sizes, list) else [None]
    stacks = ("encoder", "decoder") if name == "EncoderDecoderNetwork" else ("layers",)
    checks = [(size, f"{stack}.{k}.weight_hh_l0", 1) for stack in stacks for k, size in enumerate(sizes)]
    if name == "EncoderDecoderNetwork":
        checks += [(config.get("n_encoder_inputs"), "encoder.0.weight_ih_l0", 1),
                   (config.get("n_decoder_inputs"), "decoder.0.weight_ih_l0", 1)]
    else:
        checks.append((config.get("n_features"), "layers.0.weight_ih_l0", 1))
    if name == "ConditionedSequenceNetwork":
        checks.append((config.get("n_conditions"), "bridges.0.weight", 1))
    return checks + [(config.get("n_outputs"), "head.weight", 0)]


def _check_sizes(checks, shapes, reader):
    """Every size of the architecture equals the stored weight's: checked before anything is built,
    so the memory a file makes ``load`` allocate is bounded by the data it holds."""
    for size, weight, axis in checks:
        shape = shapes.get(weight)
        if shape is None:
            raise reader.error(f"its architecture needs the weight {weight!r}, which the file does not hold")
        if len(shape) <= axis or not _is_count(size) or shape[axis] != size:
            raise reader.error(f"its architecture asks for a size {size!r} that the stored weight {weight!r} "
                               f"(shape {shape}) does not have")


def _build_network(model, entry, shapes, reader):
    """The fitted estimator's network, after checking that the file's network is the one its
    parameters and fitted attributes give (:meth:`_network_spec`) and fits the stored weights."""
    from ._network import build_network

    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise reader.error("its 'network' entry is missing or malformed")
    try:
        name, config = model._network_spec()
    except (AttributeError, TypeError, KeyError) as exc:
        raise reader.error(f"its fitted attributes are incomplete or malformed ({type(exc).__name__}: {exc})") \
            from None
    if entry.get("class") != name or entry["config"] != config:
        raise reader.error(f"its network ({entry.get('class')!r}, {entry['config']}) is not the one its params and "
                           f"fitted attributes give ({name!r}, {config})")
    _check_sizes(_network_sizes(name, config), shapes, reader)
    return build_network(name, config, np.random.default_rng(0))  # the weights are replaced by the saved ones


def _load_weights(views, members, reader):
    """Fill the named parameter ``views`` from the ``weights`` table, checking names, shapes and values."""
    expected, given = set(views), set(members)
    if expected != given:
        raise reader.error(f"its weights do not match the architecture: missing {_listed(expected - given)}, "
                           f"unexpected {_listed(given - expected)}")
    for name, view in views.items():
        array = reader.array(members[name], f"weights[{name!r}]")
        if array.shape != view.shape or array.dtype.kind != "f":
            raise reader.error(f"weights[{name!r}] has shape {array.shape} and dtype {array.dtype}; the "
                               f"architecture needs a float array of shape {view.shape}")
        view[...] = _finite(array, view.dtype, f"weights[{name!r}]", reader)


def _finite(array, dtype, where, reader):
    """``array`` in ``dtype``, refused unless every value is finite there (a float64 1e300 is not, in a
    float32 model)."""
    with np.errstate(over="ignore", invalid="ignore"):
        converted = array.astype(dtype)
    if not np.all(np.isfinite(converted)):
        raise reader.error(f"{where} holds values that are not finite in the model's dtype")
    return converted


def _build_optimizer(entry, reader, params, decode):
    """The optimizer of a saved estimator (None when the file has none), its state checked against
    the flat parameter buffer ``params``."""
    if entry is None:
        return None
    classes = _optimizer_classes()
    cls = classes.get(entry.get("class")) if isinstance(entry, dict) else None
    if cls is None or not isinstance(entry.get("config"), dict):
        raise reader.error(f"its optimizer entry is malformed or names a class not in {sorted(classes)}")
    try:
        optimizer = cls(**entry["config"])
    except (TypeError, ValueError) as exc:
        raise reader.error(f"its optimizer config does not build a {cls.__name__} ({exc})") from None
    steps = entry.get("steps")
    if not _is_count(steps):
        raise reader.error(f"its optimizer's steps {steps!r} are not an integer >= 0")
    optimizer.t = steps
    state = entry.get("state")
    if state is not None:
        if not isinstance(state, dict) or set(state) != set(cls._state_names):
            raise reader.error(f"its optimizer state must hold exactly {list(cls._state_names)}")
        arrays = {}
        for name, value in state.items():
            array = decode(value, f"optimizer.{name}")
            if not isinstance(array, np.ndarray) or array.shape != params.shape or array.dtype.kind != "f":
                raise reader.error(f"optimizer.{name} must be a float array of shape {params.shape}")
            arrays[name] = _finite(array, params.dtype, f"optimizer.{name}", reader)
        optimizer.state = [arrays]
    return optimizer


def load(path, device=None):
    """Load a model saved by ``save``: an estimator (fitted) or a layer, never anything else.

    Loading never executes code and never unpickles (the file holds JSON and ``.npy`` arrays read
    with their headers checked), so a model file from an untrusted source can be loaded safely:
    the only classes that can come out are fastrnn's own estimators and layers.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        A file written by ``model.save(path)``.
    device : {None, "auto", "cpu", "cuda"}, default None
        None keeps the device the model was saved with; another value replaces it, for example
        ``device="cpu"`` to run on a machine without a GPU a model saved with ``device="cuda"``
        (a model saved with "auto" runs anywhere).

    Returns
    -------
    RNNRegressor, RNNClassifier, CharRNN, Seq2Seq, RNN, LSTM, GRU or Linear
        The model, which predicts bit-identically to the saved one; an estimator also continues
        training (``partial_fit``, ``warm_start``) exactly as the saved one would have.

    Raises
    ------
    FileNotFoundError
        When there is no file at ``path``.
    ValueError
        When the file is not a fastrnn model file, is damaged or truncated, was written in a newer
        format version than this fastrnn reads, names a class fastrnn does not define, holds an
        array of Python objects, or describes a model that does not fit its own weights. The
        message names the file and the reason.

    Examples
    --------
    >>> import fastrnn
    >>> model = fastrnn.load("forecaster.fastrnn")  # doctest: +SKIP
    """
    if device is not None and device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be None or one of 'auto', 'cpu', 'cuda'; got {device!r}.")
    document, reader = read_archive(path)
    try:
        return build_model(document, reader, device)
    except _RefusedFile:
        raise
    except Exception as exc:  # a malformed value the checks above did not foresee: still the file's fault
        raise reader.error(f"it is malformed ({type(exc).__name__}: {str(exc)[:300]})") from None
    finally:
        reader.source.close()


def copy_with_dtype(model, dtype):
    """A copy of a fitted estimator or a layer computing in ``dtype`` (its weights converted), without
    the optimizer's state: what the gradient check runs on. Made through the same document as a
    saved file, kept in memory (so attributes a file could not hold are copied too)."""
    document, arrays = model_document(model, in_memory=True)
    name = np.dtype(dtype).name
    document["params"]["dtype"] = name
    if "network" in document:
        document["network"]["config"]["dtype"] = name
        document["optimizer"] = None
    arrays = {member: (array.astype(dtype) if member.startswith("weights/") else array)
              for member, array in arrays.items()}
    return build_model(document, _ArrayReader(arrays, f"a {type(model).__name__}"))


__all__ = ["FORMAT", "FORMAT_VERSION", "MODEL_CLASSES", "SaveMixin", "copy_with_dtype", "load"]
