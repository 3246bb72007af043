"""Status codes and the exceptions they raise."""
import ctypes

from ._lib import lib

OK = 0
# The order and numbers of LCT_STATUS_MAP in include/libcontrast/common.h (tests/python/test_core.py
# checks them against it).
EINVAL, ENOMEM, ESHAPE, EIO, EFORMAT, ENUMERIC, EVERSION, ESTATE, ERANGE, EUNSUPPORTED, ECHECKSUM, EMISMATCH, \
    ECOMM, ENOTFOUND = range(-1, -15, -1)


class LctError(Exception):
    """A libcontrast call failed: `status` is the negative code, `message` the library's explanation."""

    def __init__(self, status, message):
        super().__init__("%s (%s)" % (message, lib.lct_status_string(status).decode()))
        self.status = status
        self.message = message


class InvalidArgumentError(LctError, ValueError):
    pass


class OutOfMemoryError(LctError, MemoryError):
    pass


class ShapeError(LctError, ValueError):
    pass


class LctIOError(LctError, OSError):
    pass


class FormatError(LctError, ValueError):
    pass


class NumericError(LctError, ArithmeticError):
    pass


class VersionError(LctError):
    pass


class StateError(LctError, RuntimeError):
    pass


class RangeError(LctError, ValueError):
    pass


class UnsupportedError(LctError):
    pass


class ChecksumError(LctError, ValueError):
    pass


class MismatchError(LctError, ValueError):
    pass


class CommError(LctError, RuntimeError):
    pass


class NotFoundError(LctError, LookupError):
    pass


_CLASSES = {
    EINVAL: InvalidArgumentError, ENOMEM: OutOfMemoryError, ESHAPE: ShapeError, EIO: LctIOError,
    EFORMAT: FormatError, ENUMERIC: NumericError, EVERSION: VersionError, ESTATE: StateError,
    ERANGE: RangeError, EUNSUPPORTED: UnsupportedError, ECHECKSUM: ChecksumError, EMISMATCH: MismatchError,
    ECOMM: CommError, ENOTFOUND: NotFoundError,
}


def check(status):
    """Raise the LctError subclass for a negative status; return non-negative values unchanged."""
    if status < 0:
        cls = _CLASSES.get(status, LctError)
        raise cls(status, lib.lct_error_last().decode("utf-8", "replace"))
    return status


def check_out(fn, types, *args):
    """Call fn(*args, &v...) with a new ctypes value of each of `types` (a type, or a tuple of them), check
    the status, and return the value (or the tuple of values)."""
    if not isinstance(types, tuple):
        return check_out(fn, (types,), *args)[0]
    values = [t() for t in types]
    check(fn(*args, *(ctypes.byref(v) for v in values)))
    return tuple(v.value for v in values)


def status_string(status):
    return lib.lct_status_string(status).decode()


def error_last():
    """The library's message about the last failed call in this thread ("" if none)."""
    return lib.lct_error_last().decode("utf-8", "replace")


def error_clear():
    """Forget this thread's last error message."""
    lib.lct_error_clear()


def error_set(status, message):
    """Record `message` as this thread's last error (for engines plugged in through Comm); returns status."""
    return lib.lct_error_set(status, message.encode("utf-8"))
