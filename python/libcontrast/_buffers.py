"""Buffers across the C boundary: anything with the buffer protocol, zero-copy when possible.

Float inputs accept C-contiguous float32 buffers (array.array('f'), NumPy float32 arrays,
memoryviews of them) and raw bytes/bytearray holding float32 values. Writable buffers are
passed to C without a copy; read-only `bytes` too; other read-only buffers are copied.
Results come back as array.array('f') or, when the caller passed NumPy arrays, as NumPy arrays.
"""
import array
import ctypes

_FLOAT_FORMATS = ("f", "<f", "=f", "@f")
_BYTE_FORMATS = ("B", "b", "c", "<B", "=B", "@B")
_U8_FORMATS = ("B", "<B", "=B", "@B", "c")


def is_numpy(obj):
    return type(obj).__module__ == "numpy"


class Buffer:
    """A C pointer to a Python buffer, holding whatever keeps the memory alive."""

    __slots__ = ("address", "nbytes", "_keep")

    def __init__(self, address, nbytes, keep):
        self.address = address
        self.nbytes = nbytes
        self._keep = keep


def _view(obj, name, formats, itemsize, what):
    try:
        mv = memoryview(obj)
    except TypeError:
        raise TypeError("%s must support the buffer protocol (%s), not %s" % (name, what, type(obj).__name__))
    if not mv.c_contiguous:
        raise ValueError("%s must be C-contiguous" % name)
    if mv.format in formats and mv.itemsize == itemsize:
        return mv
    if mv.format in _BYTE_FORMATS and mv.itemsize == 1:
        if mv.nbytes % itemsize:
            raise ValueError("%s holds %d bytes, not a whole number of %d-byte elements" %
                             (name, mv.nbytes, itemsize))
        return mv
    raise TypeError("%s must hold %s, not format %r" % (name, what, mv.format))


def _pointer(obj, mv, writable, name):
    raw = mv.cast("B") if mv.ndim != 1 or mv.format != "B" else mv
    n = raw.nbytes
    if not raw.readonly:
        buf = (ctypes.c_char * n).from_buffer(raw)
        return Buffer(ctypes.addressof(buf), n, (buf, obj))
    if writable:
        raise TypeError("%s must be writable (it receives results)" % name)
    if isinstance(obj, bytes):
        return Buffer(ctypes.cast(ctypes.c_char_p(obj), ctypes.c_void_p).value, n, obj)
    buf = (ctypes.c_char * n).from_buffer_copy(raw)
    return Buffer(ctypes.addressof(buf), n, buf)


def floats(obj, name, count=None, writable=False):
    """Pointer to a float32 buffer; `count` (if given) is the required number of floats."""
    mv = _view(obj, name, _FLOAT_FORMATS, 4, "float32 values")
    if count is not None and mv.nbytes != 4 * count:
        raise ValueError("%s holds %d float32 values, expected %d" % (name, mv.nbytes // 4, count))
    return _pointer(obj, mv, writable, name)


def bytes_u8(obj, name, count=None):
    """Pointer to a read-only uint8 buffer (raw images)."""
    mv = _view(obj, name, _U8_FORMATS, 1, "uint8 values")
    if count is not None and mv.nbytes != count:
        raise ValueError("%s holds %d bytes, expected %d" % (name, mv.nbytes, count))
    return _pointer(obj, mv, False, name)


def int_array(obj, name, typecode, ctype, count=None, writable=False):
    """Pointer to an integer buffer of the C type `ctype` (e.g. int64 indices); lists are converted."""
    if isinstance(obj, (list, tuple, range)):
        obj = array.array(typecode, obj)
    size = ctypes.sizeof(ctype)
    fmt = array.array(typecode).typecode
    formats = (fmt, "<" + fmt, "=" + fmt, "@" + fmt, "l" if size == 8 else "i", "q" if size == 8 else "i")
    mv = _view(obj, name, formats, size, "%d-byte integers" % size)
    if count is not None and mv.nbytes != size * count:
        raise ValueError("%s holds %d values, expected %d" % (name, mv.nbytes // size, count))
    return _pointer(obj, mv, writable, name)


def new_floats(count, like=None, shape=None):
    """A zeroed float32 result: a NumPy array (of `shape`) if `like` is one, else array.array('f')."""
    if like is not None and is_numpy(like):
        import numpy
        return numpy.zeros(shape if shape is not None else (count,), dtype=numpy.float32)
    return array.array("f", bytes(4 * count))


def new_ints(count, typecode, like=None, shape=None):
    """A zeroed integer result ('q' int64 or 'i' int32): NumPy if `like` is one, else array.array."""
    if like is not None and is_numpy(like):
        import numpy
        return numpy.zeros(shape if shape is not None else (count,),
                           dtype=numpy.int64 if typecode == "q" else numpy.int32)
    return array.array(typecode, bytes(array.array(typecode).itemsize * count))


def count_of(buf, per_item, name, what="samples"):
    """Whole float32 items of `per_item` floats in `buf` (the batch size), or ValueError."""
    nbytes = memoryview(buf).nbytes
    if nbytes == 0 or nbytes % (4 * per_item):
        raise ValueError("%s holds %d bytes, not a whole number of %d-float %s" % (name, nbytes, per_item, what))
    return nbytes // (4 * per_item)
