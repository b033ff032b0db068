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
random generator's state).

Loading never executes code and never unpickles: the classes it can build are the fixed tables
below, built through their constructors from checked values; every ``.npy`` member is read with
``allow_pickle=False`` after its header was checked (no object arrays), and every weight must have
the shape and kind the architecture gives it. Anything else is refused with a ``ValueError`` naming
the file and the reason.
"""

import io
import json
import os
import re
import tempfile
import zipfile
import zlib

import numpy as np

from .kernels.dispatch import backend_of

FORMAT = "fastrnn-model"
FORMAT_VERSION = 1
_DOCUMENT = "model.json"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the zip members' timestamp: the same model gives the same bytes
# the bit generators a saved numpy Generator / RandomState may name
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_ATTRIBUTE_NAME = re.compile(r"^_?[a-z][a-z0-9_]*$")


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


# ---------------------------------------------------------------------------------- the classes
def _model_classes():
    """The classes a file may name as ``class``: fastrnn's estimators and layers."""
    from .estimators import CharRNN, RNNClassifier, RNNRegressor, Seq2Seq
    from .layers import GRU, LSTM, RNN, Linear

    return {cls.__name__: cls for cls in (RNNRegressor, RNNClassifier, CharRNN, Seq2Seq, RNN, LSTM, GRU, Linear)}


def _network_classes():
    from ._network import ConditionedSequenceNetwork, EncoderDecoderNetwork, SequenceNetwork

    return {cls.__name__: cls for cls in (SequenceNetwork, ConditionedSequenceNetwork, EncoderDecoderNetwork)}


def _optimizer_classes():
    from .optimizers import SGD, Adagrad, Adam

    return {cls.__name__: cls for cls in (SGD, Adam, Adagrad)}


MODEL_CLASSES = ("RNNRegressor", "RNNClassifier", "CharRNN", "Seq2Seq", "RNN", "LSTM", "GRU", "Linear")


# ---------------------------------------------------------------------------------- values
class _Encoder:
    """Turns attribute values into JSON values, collecting the arrays as members ``arrays/<k>.npy``."""

    def __init__(self, arrays):
        self.arrays = arrays  # member name -> ndarray, shared with the weights

    def __call__(self, value, where):
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
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                raise ValueError(f"{where} is a dict with keys that are not strings, which a fastrnn model file "
                                 f"cannot hold.")
            return {"$dict": {key: self(item, f"{where}[{key!r}]") for key, item in value.items()}}
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if isinstance(value, np.random.Generator):
            return {"$generator": self(value.bit_generator.state, f"{where}.bit_generator.state")}
        if isinstance(value, np.random.RandomState):
            return {"$random_state": self(value.get_state(legacy=False), f"{where}.state")}
        if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
            return {"$dtype": np.dtype(value).name}
        raise ValueError(f"{where} holds a {type(value).__name__}, which a fastrnn model file cannot represent.")

    def _array(self, array, where):
        if array.dtype.hasobject:
            items = [self._exact_scalar(item, where) for item in array.ravel().tolist()]
            return {"$object_array": items, "shape": list(array.shape)}
        member = f"arrays/{re.sub(r'[^A-Za-z0-9_.-]', '_', where)}.npy"
        while member in self.arrays:
            member = member[:-len(".npy")] + "_.npy"
        self.arrays[member] = array
        return {"$array": member}

    @staticmethod
    def _exact_scalar(item, where):
        """An element of an object array (a class label, a token) that JSON holds exactly."""
        if isinstance(item, (np.generic,)):
            item = item.item()
        if isinstance(item, (bool, int, str)) or (isinstance(item, float) and np.isfinite(item)):
            return item
        raise ValueError(
            f"{where} holds {item!r} of type {type(item).__name__}, which a fastrnn model file cannot store "
            f"exactly (it stores strings, integers, booleans and finite floats). Use labels of one of these "
            f"types, for example by encoding them as strings.")


class _Decoder:
    """The inverse of :class:`_Encoder`, reading arrays through an :class:`_ArrayReader`."""

    def __init__(self, reader):
        self.reader = reader

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
            return np.random.RandomState(self._bit_generator(self(body, where), where))
        raise self.reader.error(f"{where} holds an object tagged {tag!r} that fastrnn does not know")

    def _object_array(self, items, shape, where):
        if not (isinstance(items, list) and all(isinstance(item, (bool, int, float, str)) for item in items)
                and isinstance(shape, list) and all(isinstance(n, int) and n >= 0 for n in shape)
                and int(np.prod(shape)) == len(items)):
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
        except (TypeError, ValueError, KeyError) as exc:
            raise self.reader.error(f"{where} holds an invalid {name} state ({exc})") from None
        return bit_generator


# ---------------------------------------------------------------------------------- documents
def model_document(model):
    """The JSON document of a fitted estimator or a layer, and its arrays (member name -> ndarray)."""
    from .layers import _Module

    arrays = {}
    encode = _Encoder(arrays)
    if isinstance(model, _Module):
        params, weights = _layer_params(model), model.params
        document = _header(model, {name: encode(value, name) for name, value in params.items()})
    else:
        model._check_is_fitted()
        params = model.get_params()
        document = _header(model, {name: encode(value, name) for name, value in params.items()})
        network = model.network_
        network.sync_to_host()
        skipped = set(params) | {"network_", "_optimizer"}
        document["attributes"] = {name: encode(value, name) for name, value in vars(model).items()
                                  if name not in skipped}
        document["network"] = {"class": type(network).__name__, "config": network.config()}
        document["optimizer"] = _optimizer_document(getattr(model, "_optimizer", None), encode)
        weights = network.named_parameters()
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
        return
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save the model to {path!r}: the folder {folder!r} does not exist.")
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file:
            _write_zip(file, text, arrays)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


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
class _ArrayReader:
    """Reads ``.npy`` members of an open archive (or of a dict, for in-memory copies), refusing object
    arrays; makes the errors that name the file."""

    def __init__(self, source, name):
        self.source = source  # a zipfile.ZipFile, or a dict member -> ndarray
        self.name = name

    def error(self, reason):
        return ValueError(f"Cannot load {self.name}: {reason}.")

    def array(self, member, where):
        if isinstance(self.source, dict):
            if member not in self.source:
                raise self.error(f"{where} refers to {member!r}, which is missing")
            return np.array(self.source[member])
        try:
            with self.source.open(member) as file:
                version = np.lib.format.read_magic(file)
                read_header = _NPY_HEADER_READERS.get(version)
                if read_header is None:
                    raise self.error(f"{member} ({where}) is an .npy file of version {version}, which fastrnn "
                                     f"does not read")
                shape, fortran_order, dtype = read_header(file)
                if dtype.hasobject:
                    raise self.error(f"{member} ({where}) holds an array of Python objects (dtype {dtype}), which "
                                     f"would have to be unpickled; fastrnn never unpickles")
                array = _read_body(file, shape, fortran_order, dtype)
        except KeyError:
            raise self.error(f"{where} refers to {member!r}, which is missing from the archive") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
            if isinstance(exc, ValueError) and str(exc).startswith(f"Cannot load {self.name}"):
                raise
            raise self.error(f"the array {member} ({where}) is damaged ({exc})") from None
        return array


_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _read_body(file, shape, fortran_order, dtype):
    """The data of an ``.npy`` member after its header (``dtype`` without objects)."""
    count = int(np.prod(shape, dtype=np.int64))
    data = file.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise EOFError(f"expected {count * dtype.itemsize} bytes of data, found {len(data)}")
    array = np.frombuffer(data, dtype=dtype, count=count).copy()
    return array.reshape(shape[::-1]).T if fortran_order else array.reshape(shape)


def read_archive(path):
    """Open a model file; return its checked document and an :class:`_ArrayReader` (keep the archive
    open while reading: ``reader.source.close()`` after)."""
    name = repr(path) if not hasattr(path, "read") else "the model file object"
    if not hasattr(path, "read"):
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"No fastrnn model file at {path!r}.")
        if os.path.isdir(path):
            raise ValueError(f"Cannot load {name}: it is a folder, not a fastrnn model file.")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ValueError(f"Cannot load {name}: it is not a fastrnn model file (not a zip archive, or a truncated "
                         f"one: {exc}).") from None
    reader = _ArrayReader(archive, name)
    try:
        try:
            text = archive.read(_DOCUMENT)
        except KeyError:
            raise reader.error(f"it is not a fastrnn model file (no {_DOCUMENT} inside)") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise reader.error(f"{_DOCUMENT} is damaged ({exc})") from None
        try:
            document = json.loads(text.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
            raise reader.error(f"{_DOCUMENT} is not valid JSON ({exc})") from None
        _check_header(document, reader)
    except BaseException:
        archive.close()
        raise
    return document, reader


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def _check_header(document, reader):
    from . import __version__

    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise reader.error(f"it is not a fastrnn model file ({_DOCUMENT} does not say format {FORMAT!r})")
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise reader.error(f"its format_version {version!r} is not a version number")
    if version > FORMAT_VERSION:
        raise reader.error(
            f"it was written by fastrnn {document.get('fastrnn_version')!r} in format version {version}, newer "
            f"than this fastrnn ({__version__}) reads (up to {FORMAT_VERSION}); upgrade fastrnn to load it")
    name = document.get("class")
    if name not in MODEL_CLASSES:
        raise reader.error(f"it names the class {name!r}, which is not a fastrnn model class (one of "
                           f"{', '.join(MODEL_CLASSES)}); nothing else is ever built from a file")
    for key, kind in (("params", dict), ("weights", dict)):
        if not isinstance(document.get(key), kind):
            raise reader.error(f"its {key!r} entry is missing or not a JSON object")


# ---------------------------------------------------------------------------------- building
def build_model(document, reader, device=None):
    """The estimator or layer a checked ``document`` describes, with its weights from ``reader``.

    ``device``: None keeps the saved ``device``; else it replaces it (for example "cpu" for a model
    saved with device="cuda", on a machine without a GPU).
    """
    decode = _Decoder(reader)
    cls = _model_classes()[document["class"]]
    params = {name: decode(value, f"params[{name!r}]") for name, value in document["params"].items()}
    saved_device = params.get("device", "auto")
    if device is not None:
        saved_device = params["device"] = device
    from .layers import _Module

    if issubclass(cls, _Module):
        if saved_device not in ("auto", "cpu", "cuda"):
            raise reader.error(f"params['device'] is {saved_device!r}, not one of 'auto', 'cpu', 'cuda'")
        params["device"] = "cpu"  # resolved when the layer runs, not now: a GPU layer loads anywhere
        model = _construct(cls, params, reader)
        _load_weights(model.params, document["weights"], reader, model.dtype)
        model.device = saved_device
        return model
    model = _construct(cls, params, reader)
    try:
        model._check_parameter_rules()
    except ValueError as exc:
        raise reader.error(str(exc)) from None
    attributes = document.get("attributes")
    if not isinstance(attributes, dict):
        raise reader.error("its 'attributes' entry is missing or not a JSON object")
    for name, value in attributes.items():
        if not _ATTRIBUTE_NAME.match(name) or name in params or hasattr(cls, name) or name in ("network_", "_optimizer"):
            raise reader.error(f"it sets the attribute {name!r}, which a fitted {cls.__name__} does not have")
        setattr(model, name, decode(value, f"attributes[{name!r}]"))
    model.network_ = _build_network(document.get("network"), reader, model._float_type)
    _load_weights(model.network_.named_parameters(), document["weights"], reader, model._float_type)
    optimizer = _build_optimizer(document.get("optimizer"), reader, model.network_.params)
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


def _build_network(entry, reader, dtype):
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise reader.error("its 'network' entry is missing or malformed")
    classes = _network_classes()
    cls = classes.get(entry.get("class"))
    if cls is None:
        raise reader.error(f"its network class {entry.get('class')!r} is not one of {sorted(classes)}")
    config = dict(entry["config"])
    if config.get("dtype") != np.dtype(dtype).name:
        raise reader.error(f"its network's dtype {config.get('dtype')!r} differs from the model's "
                           f"{np.dtype(dtype).name!r}")
    sizes = config.get("hidden_sizes")
    if not (isinstance(sizes, list) and sizes and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1
                                                      for s in sizes)):
        raise reader.error(f"its network's hidden_sizes {sizes!r} are not a list of integers >= 1")
    config.update(dtype=np.dtype(dtype).type, hidden_sizes=tuple(sizes))
    try:
        return cls(**config, rng=np.random.default_rng(0))  # the weights are replaced by the saved ones
    except (TypeError, ValueError, KeyError) as exc:
        raise reader.error(f"its network config does not build a {cls.__name__} ({exc})") from None


def _load_weights(views, members, reader, dtype):
    """Fill the named parameter ``views`` from the ``weights`` table, checking names, shapes and values."""
    expected, given = list(views), list(members)
    if set(expected) != set(given):
        raise reader.error(f"its weights do not match the architecture: missing {sorted(set(expected) - set(given))}, "
                           f"unexpected {sorted(set(given) - set(expected))}")
    for name, view in views.items():
        member = members[name]
        if not isinstance(member, str):
            raise reader.error(f"weights[{name!r}] is not a member name")
        array = reader.array(member, f"weights[{name!r}]")
        if array.shape != view.shape or array.dtype.kind != "f":
            raise reader.error(f"weights[{name!r}] has shape {array.shape} and dtype {array.dtype}; the "
                               f"architecture needs a float array of shape {view.shape}")
        if not np.all(np.isfinite(array)):
            raise reader.error(f"weights[{name!r}] holds values that are not finite")
        view[...] = array.astype(dtype, copy=False)


def _build_optimizer(entry, reader, params):
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
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise reader.error(f"its optimizer's steps {steps!r} are not an integer >= 0")
    optimizer.t = steps
    state = entry.get("state")
    if state is not None:
        if not isinstance(state, dict) or set(state) != set(cls._state_names):
            raise reader.error(f"its optimizer state must hold exactly {list(cls._state_names)}")
        decode = _Decoder(reader)
        arrays = {}
        for name, value in state.items():
            array = decode(value, f"optimizer.{name}")
            if not isinstance(array, np.ndarray) or array.shape != params.shape or array.dtype.kind != "f":
                raise reader.error(f"optimizer.{name} must be a float array of shape {params.shape}")
            arrays[name] = array.astype(params.dtype, copy=False)
        optimizer.state = [arrays]
    return optimizer


def load(path, device=None):
    """Load a model saved by ``save``: an estimator (fitted) or a layer, never anything else.

    Loading never executes code and never unpickles (the file holds JSON and ``.npy`` arrays read
    with ``allow_pickle=False``), so a model file from an untrusted source can be loaded safely:
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
        format version than this fastrnn reads, names a class fastrnn does not define, or holds an
        array of Python objects. The message names the file and the reason.

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
    finally:
        if isinstance(reader.source, zipfile.ZipFile):
            reader.source.close()


def copy_with_dtype(model, dtype):
    """A copy of a fitted estimator or a layer computing in ``dtype`` (its weights converted), without
    the optimizer's state: what the gradient check runs on."""
    document, arrays = model_document(model)
    name = np.dtype(dtype).name
    document["params"]["dtype"] = name
    if "network" in document:
        document["network"]["config"]["dtype"] = name
        document["optimizer"] = None
    return build_model(document, _ArrayReader(arrays, f"a {type(model).__name__}"))


__all__ = ["FORMAT", "FORMAT_VERSION", "MODEL_CLASSES", "SaveMixin", "copy_with_dtype", "load"]
