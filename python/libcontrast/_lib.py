"""Locating and loading the shared library, and the C prototypes.

Search order: the LIBCONTRAST_LIBRARY environment variable (a path), then the
build folder of the source tree this package sits in, then the system's
library path (ctypes.util.find_library("contrast")).
"""
import ctypes
import ctypes.util
import os

BINDING_MAJOR = 0

c_int, c_uint32, c_uint64, c_size_t, c_float, c_double, c_void_p, c_char_p = (
    ctypes.c_int, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_float, ctypes.c_double,
    ctypes.c_void_p, ctypes.c_char_p)
P = ctypes.POINTER

ALLOC_FN = ctypes.CFUNCTYPE(c_void_p, c_void_p, c_size_t)
FREE_FN = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)
LOG_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_char_p)


class RuntimeOptions(ctypes.Structure):
    _fields_ = [
        ("version", c_uint32),
        ("threads", c_uint32),
        ("seed", c_uint64),
        ("alloc", ALLOC_FN),
        ("free", FREE_FN),
        ("alloc_user", c_void_p),
        ("log", LOG_FN),
        ("log_user", c_void_p),
        ("log_level", ctypes.c_int32),
    ]


TASK_FN = ctypes.CFUNCTYPE(None, c_void_p, c_size_t)
SCHEDULER_RUN_FN = ctypes.CFUNCTYPE(None, c_void_p, c_size_t, TASK_FN, c_void_p)


class Scheduler(ctypes.Structure):
    """lct_scheduler (version 1): a host's job system for the runtime's parallel regions."""
    _fields_ = [("version", c_uint32), ("workers", c_uint32), ("run", SCHEDULER_RUN_FN), ("user", c_void_p)]


def _candidates():
    env = os.environ.get("LIBCONTRAST_LIBRARY")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    for build in ("build", "build-asan"):
        yield os.path.join(root, build, "lib", "libcontrast.so.1")
    found = ctypes.util.find_library("contrast")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (absent)")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as exc:
            tried.append("%s (%s)" % (path, exc))
    raise ImportError("libcontrast: shared library not found; set LIBCONTRAST_LIBRARY. Tried: " +
                      "; ".join(tried or ["nothing"]))


lib = _load()

# Prototypes: name -> (restype, argtypes). Every module of the binding adds its own.
PROTOTYPES = {
    "lct_status_string": (c_char_p, [c_int]),
    "lct_error_last": (c_char_p, []),
    "lct_error_clear": (None, []),
    "lct_error_set": (c_int, [c_int, c_char_p]),
    "lct_version_number": (c_int, []),
    "lct_version_string": (c_char_p, []),
    "lct_runtime_options_init": (c_int, [P(RuntimeOptions), c_uint32]),
    "lct_scheduler_init": (c_int, [P(Scheduler), c_uint32]),
    "lct_runtime_new": (c_int, [P(c_void_p), P(RuntimeOptions)]),
    "lct_runtime_free": (None, [c_void_p]),
    "lct_runtime_threads": (c_int, [c_void_p]),
    "lct_runtime_set_threads": (c_int, [c_void_p, c_uint32]),
    "lct_runtime_seed": (c_uint64, [c_void_p]),
    "lct_runtime_get_seed": (c_int, [c_void_p, P(c_uint64)]),
    "lct_runtime_kernel": (c_char_p, [c_void_p, P(c_int)]),
    "lct_runtime_memory": (c_int, [c_void_p, P(c_size_t), P(c_size_t)]),
    "lct_gemm": (c_int, [c_void_p, c_int, c_int, c_size_t, c_size_t, c_size_t, c_float, c_void_p, c_size_t,
                         c_void_p, c_size_t, c_float, c_void_p, c_size_t]),
    "lct_params_count": (c_int, [c_void_p]),
    "lct_params_info": (c_int, [c_void_p, c_size_t, P(c_char_p), P(c_size_t), P(c_int)]),
    "lct_params_total": (c_int, [c_void_p, P(c_size_t)]),
    "lct_params_get": (c_int, [c_void_p, c_size_t, c_void_p, c_size_t]),
    "lct_params_set": (c_int, [c_void_p, c_size_t, c_void_p, c_size_t]),
    "lct_params_get_grad": (c_int, [c_void_p, c_size_t, c_void_p, c_size_t]),
    "lct_params_zero_grad": (c_int, [c_void_p]),
}


DECLARED = {}


def declare(prototypes):
    """Attach restype/argtypes to the library's functions (missing ones raise ImportError)."""
    DECLARED.update(prototypes)
    for name, (res, args) in prototypes.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise ImportError("libcontrast: the library lacks %s; binding and library do not match" % name)
        fn.restype = res
        fn.argtypes = args


declare(PROTOTYPES)

_major = lib.lct_version_number() // 1000000
if _major != BINDING_MAJOR:
    raise ImportError("libcontrast: library version %s has major %d, this binding needs major %d" %
                      (lib.lct_version_string().decode(), _major, BINDING_MAJOR))
