"""Runtime, parameter sets and GEMM."""
import ctypes
import weakref

from . import _buffers
from ._errors import StateError, check, check_out
from ._lib import LOG_FN, RuntimeOptions, lib

KERNEL_SOURCES = {0: "auto", 1: "env", 2: "blis"}
LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG = range(4)


def enum_value(table, value, what):
    """The C number of an enumeration given by name (case-insensitive) or as a number."""
    if isinstance(value, str):
        try:
            return table[value.lower()]
        except KeyError:
            raise ValueError("%s must be one of %s, not %r" % (what, ", ".join(sorted(table)), value))
    return int(value)


def version():
    """Version string of the loaded library."""
    return lib.lct_version_string().decode()


def version_number():
    return lib.lct_version_number()



def counter_property(get, set_, doc):
    """A 64-bit counter of a handle, read with lib.<get>(ptr, &v) and written with lib.<set_>(ptr, v)."""
    return property(lambda self: check_out(getattr(lib, get), ctypes.c_uint64, self.ptr),
                    lambda self, value: check(getattr(lib, set_)(self.ptr, value)), doc=doc)


def item_property(name, index, doc=None):
    """Item `index` of the tuple that the property `name` returns."""
    return property(lambda self: getattr(self, name)[index], doc=doc)


class Handle:
    """Base of every wrapped handle: close(), context manager, freed on garbage collection.

    A handle keeps a strong reference to every handle it borrows (its runtime, a bank...),
    so Python can never free those first. It also counts the open handles that borrow it:
    when the garbage collector finalises a group of handles in an arbitrary order (a reference
    cycle holding a runtime and its encoder, say), a handle still borrowed is only marked and
    is freed by its last borrower's release, so C always frees the borrowers first.
    """

    _free = None
    _ptr = None
    _users = 0
    _orphaned = False
    _borrows = ()

    def __init__(self, ptr, borrows=()):
        self._ptr = ptr
        self._dependants = weakref.WeakSet()
        self._borrows = ()
        for b in borrows:
            self._borrow(b)

    @classmethod
    def _adopt(cls, ptr, borrows=()):
        """Wrap a C handle made elsewhere (e.g. by a checkpoint reader) without running __init__."""
        obj = cls.__new__(cls)
        Handle.__init__(obj, ptr, borrows)
        return obj

    def _borrow(self, other):
        """Keep `other` alive (and open) for as long as this handle lives."""
        self._borrows = self._borrows + (other,)
        if isinstance(other, Handle):
            other._users += 1
            other._dependants.add(self)

    @property
    def ptr(self):
        if not self._ptr:
            raise StateError(-8, "%s is closed" % type(self).__name__)
        return self._ptr

    @property
    def closed(self):
        return not self._ptr

    def close(self):
        """Free the C handle now. Refused while handles that borrow this one are still open."""
        if self._users > 0:
            live = [type(d).__name__ for d in self._dependants if not d.closed]
            raise StateError(-8, "%s is still used by %d open handle(s) (%s); close them first" %
                             (type(self).__name__, self._users, ", ".join(live) or "being collected"))
        self._release()

    def _release(self):
        ptr, self._ptr = self._ptr, None
        if ptr and type(self)._free is not None:
            type(self)._free(ptr)
        borrows, self._borrows = self._borrows, ()
        for b in borrows:
            if isinstance(b, Handle):
                b._users -= 1
                if b._users == 0 and b._orphaned:
                    b._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if self._users > 0:
                self._orphaned = True  # the last borrower's release frees it
            else:
                self._release()
        except Exception:
            pass


class Runtime(Handle):
    """Threads, seed, log hook and the BLIS kernels; every other handle is created from one.

    log: optional callable(level, message) receiving the library's messages up to log_level.
    """

    _free = staticmethod(lib.lct_runtime_free)

    def __init__(self, threads=1, seed=0, log=None, log_level=LOG_WARN):
        opts = RuntimeOptions()
        check(lib.lct_runtime_options_init(ctypes.byref(opts), 1))
        opts.threads = threads
        opts.seed = seed
        opts.log_level = log_level
        self._log_cb = None
        if log is not None:
            def trampoline(_user, level, message, _log=log):
                try:
                    _log(level, message.decode("utf-8", "replace"))
                except Exception:
                    pass  # an exception must not cross the C boundary
            self._log_cb = LOG_FN(trampoline)
            opts.log = self._log_cb
        ptr = ctypes.c_void_p()
        check(lib.lct_runtime_new(ctypes.byref(ptr), ctypes.byref(opts)))
        super().__init__(ptr.value)

    @property
    def threads(self):
        return check(lib.lct_runtime_threads(self.ptr))

    @threads.setter
    def threads(self, n):
        check(lib.lct_runtime_set_threads(self.ptr, n))

    @property
    def seed(self):
        v = ctypes.c_uint64()
        check(lib.lct_runtime_get_seed(self.ptr, ctypes.byref(v)))
        return v.value

    @property
    def kernel(self):
        """(name, source): the BLIS kernel set and how it was chosen ("auto", "env" or "blis")."""
        src = ctypes.c_int()
        name = lib.lct_runtime_kernel(self.ptr, ctypes.byref(src)).decode()
        return name, KERNEL_SOURCES.get(src.value, str(src.value))

    @property
    def memory(self):
        """(current, peak) bytes held by this runtime's handles."""
        cur, peak = ctypes.c_size_t(), ctypes.c_size_t()
        check(lib.lct_runtime_memory(self.ptr, ctypes.byref(cur), ctypes.byref(peak)))
        return cur.value, peak.value

    def gemm(self, a, b, m, n, k, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None):
        """C = alpha op(A) op(B) + beta C for row-major float32 buffers; returns C (m×n)."""
        pa = _buffers.floats(a, "a", m * k)
        pb = _buffers.floats(b, "b", k * n)
        if out is None:
            out = _buffers.new_floats(m * n, like=a, shape=(m, n))
        pc = _buffers.floats(out, "out", m * n, writable=True)
        lda = m if trans_a else k
        ldb = k if trans_b else n
        check(lib.lct_gemm(self.ptr, int(bool(trans_a)), int(bool(trans_b)), m, n, k, alpha, pa.address, lda,
                           pb.address, ldb, beta, pc.address, n))
        return out


class Params:
    """The tensors of a handle (encoder, loss, optimizer state): a view owned by that handle."""

    def __init__(self, ptr, owner):
        self._ptr = ptr
        self._owner = owner  # keeps the owning handle alive

    @property
    def _p(self):
        self._owner.ptr  # raises StateError once the owning handle is closed
        return self._ptr

    def __len__(self):
        return check(lib.lct_params_count(self._p))

    def info(self, index):
        """(name, count, trainable) of tensor `index`."""
        name, count, trainable = ctypes.c_char_p(), ctypes.c_size_t(), ctypes.c_int()
        check(lib.lct_params_info(self._p, index, ctypes.byref(name), ctypes.byref(count),
                                  ctypes.byref(trainable)))
        return name.value.decode(), count.value, bool(trainable.value)

    def names(self):
        return [self.info(i)[0] for i in range(len(self))]

    def total(self):
        return check_out(lib.lct_params_total, ctypes.c_size_t, self._p)

    def _read(self, fn, index, out):
        count = self.info(index)[1]
        if out is None:
            out = _buffers.new_floats(count)
        p = _buffers.floats(out, "out", count, writable=True)
        check(fn(self._p, index, p.address, count))
        return out

    def get(self, index, out=None):
        return self._read(lib.lct_params_get, index, out)

    def set(self, index, values):
        count = self.info(index)[1]
        p = _buffers.floats(values, "values", count)
        check(lib.lct_params_set(self._p, index, p.address, count))

    def grad(self, index, out=None):
        return self._read(lib.lct_params_get_grad, index, out)

    def zero_grad(self):
        check(lib.lct_params_zero_grad(self._p))
