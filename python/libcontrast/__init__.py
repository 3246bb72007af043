"""libcontrast: contrastive self-supervised learning in C, from Python through ctypes.

Standard library only; NumPy arrays are accepted and returned when present.
"""
from ._errors import (ChecksumError, FormatError, InvalidArgumentError, LctError, LctIOError, MismatchError,
                      NumericError, OutOfMemoryError, RangeError, ShapeError, StateError, UnsupportedError,
                      VersionError, status_string)
from ._core import LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_WARN, Handle, Params, Runtime, version, version_number
from ._lib import BINDING_MAJOR
from ._augment import Augmenter

__all__ = [
    "ChecksumError", "FormatError", "InvalidArgumentError", "LctError", "LctIOError", "MismatchError",
    "NumericError", "OutOfMemoryError", "RangeError", "ShapeError", "StateError", "UnsupportedError",
    "VersionError", "status_string", "LOG_DEBUG", "LOG_ERROR", "LOG_INFO", "LOG_WARN", "Handle", "Params",
    "Runtime", "version", "version_number", "BINDING_MAJOR",
    "Augmenter",
]
