"""Checkpoints (writer and reader) and .npy files."""
import ctypes
import os

from . import _buffers
from ._core import Handle, Params
from ._errors import ENOTFOUND, check
from ._lib import P, c_char_p, c_int, c_size_t, c_uint32, c_uint64, c_void_p, declare, lib

TYPE_META, TYPE_COUNTERS, TYPE_RUNTIME, TYPE_PARAMS, TYPE_USER = 1, 2, 3, 4, 65536
FORMAT_VERSION = 1

WRITE_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
READ_FN = ctypes.CFUNCTYPE(ctypes.c_int64, c_void_p, c_void_p, c_size_t)


class CheckpointOptions(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("level", ctypes.c_int32)]


declare({
    "lct_checkpoint_options_init": (c_int, [P(CheckpointOptions), c_uint32]),
    "lct_checkpoint_writer_new": (c_int, [P(c_void_p), c_void_p, P(CheckpointOptions)]),
    "lct_checkpoint_writer_free": (None, [c_void_p]),
    "lct_checkpoint_add_params": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_checkpoint_add_meta": (c_int, [c_void_p, c_char_p, c_char_p]),
    "lct_checkpoint_add_counter": (c_int, [c_void_p, c_char_p, c_uint64]),
    "lct_checkpoint_add_runtime": (c_int, [c_void_p]),
    "lct_checkpoint_add_blob": (c_int, [c_void_p, c_char_p, c_uint32, c_void_p, c_size_t]),
    "lct_checkpoint_write_file": (c_int, [c_void_p, c_char_p]),
    "lct_checkpoint_write_cb": (c_int, [c_void_p, WRITE_FN, c_void_p]),
    "lct_checkpoint_reader_open_file": (c_int, [P(c_void_p), c_void_p, c_char_p]),
    "lct_checkpoint_reader_open_cb": (c_int, [P(c_void_p), c_void_p, READ_FN, c_void_p]),
    "lct_checkpoint_reader_open_memory": (c_int, [P(c_void_p), c_void_p, c_void_p, c_size_t]),
    "lct_checkpoint_reader_free": (None, [c_void_p]),
    "lct_checkpoint_reader_format_version": (c_int, [c_void_p]),
    "lct_checkpoint_section_count": (c_int, [c_void_p]),
    "lct_checkpoint_section_info": (c_int, [c_void_p, c_size_t, P(c_char_p), P(c_uint32), P(c_uint64)]),
    "lct_checkpoint_find": (c_int, [c_void_p, c_char_p]),
    "lct_checkpoint_load_params": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_checkpoint_load_runtime": (c_int, [c_void_p, c_void_p]),
    "lct_checkpoint_get_meta": (c_int, [c_void_p, c_char_p, P(c_char_p)]),
    "lct_checkpoint_meta_count": (c_int, [c_void_p]),
    "lct_checkpoint_meta_at": (c_int, [c_void_p, c_size_t, P(c_char_p), P(c_char_p)]),
    "lct_checkpoint_get_counter": (c_int, [c_void_p, c_char_p, P(c_uint64)]),
    "lct_checkpoint_read_blob": (c_int, [c_void_p, c_char_p, c_uint32, c_void_p, c_size_t]),
    "lct_checkpoint_reader_begin": (c_int, [c_void_p]),
    "lct_checkpoint_reader_commit": (c_int, [c_void_p]),
    "lct_checkpoint_reader_rollback": (c_int, [c_void_p]),
    "lct_checkpoint_add_encoder": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_checkpoint_load_encoder": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_checkpoint_new_encoder": (c_int, [c_void_p, c_char_p, c_void_p, P(c_void_p)]),
    "lct_checkpoint_add_optimizer": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_checkpoint_load_optimizer": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_checkpoint_add_bank": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_checkpoint_load_bank": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_checkpoint_new_bank": (c_int, [c_void_p, c_char_p, c_void_p, P(c_void_p)]),
    "lct_checkpoint_add_loss": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_checkpoint_load_loss": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_checkpoint_add_augmenter": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_checkpoint_load_augmenter": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_checkpoint_add_replay": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_checkpoint_load_replay": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_checkpoint_add_novelty": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_checkpoint_load_novelty": (c_int, [c_void_p, c_char_p, c_void_p]),
    "lct_npy_write": (c_int, [c_char_p, c_void_p, c_size_t, c_size_t]),
    "lct_npy_write_vector": (c_int, [c_char_p, c_void_p, c_size_t]),
    "lct_npy_info": (c_int, [c_char_p, P(c_size_t), P(c_size_t), P(c_uint32)]),
    "lct_npy_read": (c_int, [c_char_p, c_void_p, c_size_t, c_size_t]),
    "lct_npy_read_alloc": (c_int, [c_void_p, c_char_p, P(P(ctypes.c_float)), P(c_size_t), P(c_size_t)]),
    "lct_npy_free": (None, [c_void_p, c_void_p]),
})


def _b(s):
    """str / bytes / os.PathLike to bytes for a const char * argument."""
    if isinstance(s, bytes):
        return s
    return os.fsencode(s) if isinstance(s, os.PathLike) else str(s).encode()


def _kind(handle):
    """The checkpoint calls for a handle: ("encoder", ...), by the handle's class."""
    from ._augment import Augmenter
    from ._bank import Bank
    from ._encoder import Encoder
    from ._loss import Loss
    from ._optimizer import Optimizer
    from ._replay import Novelty, Replay
    for cls, name in ((Encoder, "encoder"), (Optimizer, "optimizer"), (Bank, "bank"), (Loss, "loss"),
                      (Augmenter, "augmenter"), (Replay, "replay"), (Novelty, "novelty")):
        if isinstance(handle, cls):
            return name
    raise TypeError("cannot checkpoint a %s (encoders, optimizers, banks, losses, augmenters, replays, novelty "
                    "scorers or Params)" % type(handle).__name__)


class CheckpointWriter(Handle):
    """Collects sections, then writes them atomically to a file (or returns the bytes).

    `add(name, handle)` saves an Encoder, Optimizer, Bank, loss, Augmenter, Replay, Novelty or a Params set; the
    values are copied at that moment, so the writer does not keep the handle.
    """

    _free = staticmethod(lib.lct_checkpoint_writer_free)

    def __init__(self, runtime, level=None):
        o = CheckpointOptions()
        check(lib.lct_checkpoint_options_init(ctypes.byref(o), 1))
        if level is not None:
            o.level = level
        ptr = c_void_p()
        check(lib.lct_checkpoint_writer_new(ctypes.byref(ptr), runtime.ptr, ctypes.byref(o)))
        super().__init__(ptr.value, borrows=(runtime,))

    def add(self, name, handle):
        if isinstance(handle, Params):
            check(lib.lct_checkpoint_add_params(self.ptr, _b(name), handle._p))
        else:
            fn = getattr(lib, "lct_checkpoint_add_" + _kind(handle))
            check(fn(self.ptr, _b(name), handle.ptr))
        return self

    def add_params(self, name, params):
        check(lib.lct_checkpoint_add_params(self.ptr, _b(name), params._p))
        return self

    def add_meta(self, key, value):
        check(lib.lct_checkpoint_add_meta(self.ptr, _b(key), _b(value)))
        return self

    def add_counter(self, name, value):
        check(lib.lct_checkpoint_add_counter(self.ptr, _b(name), value))
        return self

    def add_runtime(self):
        check(lib.lct_checkpoint_add_runtime(self.ptr))
        return self

    def add_blob(self, name, data, type=TYPE_USER):
        buf = _buffers.bytes_u8(data, "data") if memoryview(data).nbytes else None
        check(lib.lct_checkpoint_add_blob(self.ptr, _b(name), type, buf.address if buf else None,
                                          buf.nbytes if buf else 0))
        return self

    def write(self, path):
        """Write atomically to `path` (the previous file stays intact on failure)."""
        check(lib.lct_checkpoint_write_file(self.ptr, _b(path)))

    def to_bytes(self):
        """The checkpoint file's bytes, through the callback writer."""
        chunks = []

        def sink(_user, data, size):
            chunks.append(ctypes.string_at(data, size))
            return 0
        check(lib.lct_checkpoint_write_cb(self.ptr, WRITE_FN(sink), None))
        return b"".join(chunks)


class Checkpoint(Handle):
    """A checkpoint opened for reading; every checksum is verified when it opens.

    Checkpoint(rt, path) or Checkpoint(rt, data=bytes) or Checkpoint(rt, stream=file-like).
    `load(name, handle)` restores a handle; `with ckpt.group():` makes several loads all-or-nothing.
    """

    _free = staticmethod(lib.lct_checkpoint_reader_free)

    def __init__(self, runtime, path=None, data=None, stream=None):
        if sum(x is not None for x in (path, data, stream)) != 1:
            raise TypeError("Checkpoint needs exactly one of path, data and stream")
        ptr = c_void_p()
        if path is not None:
            check(lib.lct_checkpoint_reader_open_file(ctypes.byref(ptr), runtime.ptr, _b(path)))
        elif data is not None:
            buf = _buffers.bytes_u8(data, "data")
            check(lib.lct_checkpoint_reader_open_memory(ctypes.byref(ptr), runtime.ptr, buf.address, buf.nbytes))
        else:
            def source(_user, dst, size):
                try:
                    chunk = stream.read(size)
                except Exception:
                    return -1
                ctypes.memmove(dst, chunk, len(chunk))
                return len(chunk)
            check(lib.lct_checkpoint_reader_open_cb(ctypes.byref(ptr), runtime.ptr, READ_FN(source), None))
        super().__init__(ptr.value, borrows=(runtime,))
        self._runtime = runtime
        self._staged = []

    @property
    def format_version(self):
        return check(lib.lct_checkpoint_reader_format_version(self.ptr))

    def __len__(self):
        return check(lib.lct_checkpoint_section_count(self.ptr))

    def section(self, index):
        """(name, type, uncompressed size) of section `index`."""
        name, typ, size = c_char_p(), c_uint32(), c_uint64()
        check(lib.lct_checkpoint_section_info(self.ptr, index, ctypes.byref(name), ctypes.byref(typ),
                                              ctypes.byref(size)))
        return name.value.decode(), typ.value, size.value

    def sections(self):
        return [self.section(i) for i in range(len(self))]

    def find(self, name):
        """Index of section `name`, or None."""
        rc = lib.lct_checkpoint_find(self.ptr, _b(name))
        if rc == ENOTFOUND:
            return None
        return check(rc)

    def __contains__(self, name):
        return self.find(name) is not None

    def load(self, name, handle):
        """Restore an Encoder, Optimizer, Bank, loss, Augmenter, Replay, Novelty or Params set saved under `name`."""
        if isinstance(handle, Params):
            check(lib.lct_checkpoint_load_params(self.ptr, _b(name), handle._p))
            owner = handle._owner
        else:
            fn = getattr(lib, "lct_checkpoint_load_" + _kind(handle))
            check(fn(self.ptr, _b(name), handle.ptr))
            owner = handle
        if self._staged is not None and self._group_open:
            self._staged.append(owner)  # targets stay borrowed until the commit
        return handle

    def load_params(self, name, params):
        return self.load(name, params)

    def load_runtime(self, runtime):
        check(lib.lct_checkpoint_load_runtime(self.ptr, runtime.ptr))

    def new_encoder(self, name, runtime=None):
        """A new Encoder built from the spec saved under `name`, with its state loaded."""
        from ._encoder import Encoder
        rt = runtime or self._runtime
        ptr = c_void_p()
        check(lib.lct_checkpoint_new_encoder(self.ptr, _b(name), rt.ptr, ctypes.byref(ptr)))
        return Encoder._adopt(ptr.value, (rt,))

    def new_bank(self, name, runtime=None):
        """A new Bank of the saved shape and storage, with its rows loaded."""
        from ._bank import Bank
        rt = runtime or self._runtime
        ptr = c_void_p()
        check(lib.lct_checkpoint_new_bank(self.ptr, _b(name), rt.ptr, ctypes.byref(ptr)))
        return Bank._adopt(ptr.value, (rt,))

    def meta(self, key):
        v = c_char_p()
        check(lib.lct_checkpoint_get_meta(self.ptr, _b(key), ctypes.byref(v)))
        return v.value.decode("utf-8", "replace")

    def meta_items(self):
        out = []
        for i in range(check(lib.lct_checkpoint_meta_count(self.ptr))):
            k, v = c_char_p(), c_char_p()
            check(lib.lct_checkpoint_meta_at(self.ptr, i, ctypes.byref(k), ctypes.byref(v)))
            out.append((k.value.decode("utf-8", "replace"), v.value.decode("utf-8", "replace")))
        return out

    def counter(self, name):
        v = c_uint64()
        check(lib.lct_checkpoint_get_counter(self.ptr, _b(name), ctypes.byref(v)))
        return v.value

    def read_blob(self, name, type=TYPE_USER):
        idx = self.find(name)
        if idx is None:
            check(lib.lct_checkpoint_read_blob(self.ptr, _b(name), type, None, 0))  # raises the library's error
        size = self.section(idx)[2]
        buf = bytearray(size)
        dst = (ctypes.c_char * size).from_buffer(buf) if size else None
        check(lib.lct_checkpoint_read_blob(self.ptr, _b(name), type, dst, size))
        return bytes(buf)

    _group_open = False

    def begin(self):
        check(lib.lct_checkpoint_reader_begin(self.ptr))
        self._group_open = True

    def commit(self):
        try:
            check(lib.lct_checkpoint_reader_commit(self.ptr))
        finally:
            self._group_open = False
            self._staged = []

    def rollback(self):
        check(lib.lct_checkpoint_reader_rollback(self.ptr))
        self._group_open = False
        self._staged = []

    def group(self):
        """Context manager: loads inside apply together on exit, or none if one failed or raised."""
        reader = self

        class _Group:
            def __enter__(self):
                reader.begin()
                return reader

            def __exit__(self, exc_type, exc, tb):
                if exc_type is None:
                    reader.commit()
                else:
                    reader.rollback()
        return _Group()


def npy_write(path, data, rows=None, cols=None):
    """Write float32 data as .npy: 2-D (rows × cols) or, with cols None, a vector."""
    n = memoryview(data).nbytes // 4
    if rows is None and cols is None and _buffers.is_numpy(data) and data.ndim == 2:
        rows, cols = data.shape
    if cols is None:
        b = _buffers.floats(data, "data", n)
        check(lib.lct_npy_write_vector(_b(path), b.address, n))
    else:
        rows = n // cols if rows is None else rows
        b = _buffers.floats(data, "data", rows * cols)
        check(lib.lct_npy_write(_b(path), b.address, rows, cols))


def npy_info(path):
    """(rows, cols, ndim) of a float32 .npy file (a vector of n has rows n, cols 1)."""
    r, c, nd = c_size_t(), c_size_t(), c_uint32()
    check(lib.lct_npy_info(_b(path), ctypes.byref(r), ctypes.byref(c), ctypes.byref(nd)))
    return r.value, c.value, nd.value


def npy_read(path, out=None, shape=None):
    """The float32 array of a .npy file (into `out` if given, which must have its size).

    shape: the (rows, cols) the caller expects; the library refuses a file of another shape."""
    rows, cols = shape if shape is not None else npy_info(path)[:2]
    if out is None:
        out = _buffers.new_floats(rows * cols)
    b = _buffers.floats(out, "out", rows * cols, writable=True)
    check(lib.lct_npy_read(_b(path), b.address, rows, cols))
    return out


def npy_read_alloc(runtime, path):
    """(array.array('f'), rows, cols) read through memory the runtime allocates and frees."""
    data, rows, cols = P(ctypes.c_float)(), c_size_t(), c_size_t()
    check(lib.lct_npy_read_alloc(runtime.ptr, _b(path), ctypes.byref(data), ctypes.byref(rows), ctypes.byref(cols)))
    try:
        out = _buffers.new_floats(rows.value * cols.value)
        ctypes.memmove(_buffers.floats(out, "out", writable=True).address, data, 4 * len(out))
    finally:
        lib.lct_npy_free(runtime.ptr, data)
    return out, rows.value, cols.value
