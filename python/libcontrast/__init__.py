"""libcontrast: contrastive self-supervised learning in C, from Python through ctypes.

Standard library only; NumPy arrays are accepted and returned when present.
"""
from ._errors import (ChecksumError, CommError, FormatError, InvalidArgumentError, LctError, LctIOError,
                      MismatchError, NotFoundError, NumericError, OutOfMemoryError, RangeError, ShapeError,
                      StateError, UnsupportedError, VersionError, error_clear, error_last, error_set, status_string)
from ._core import LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_WARN, Handle, Params, Runtime, version, version_number
from ._lib import BINDING_MAJOR
from ._augment import Augmenter
from ._encoder import Encoder
from ._optimizer import Optimizer
from ._bank import Bank, bank_bytes, knn_classify, knn_topk
from ._loss import CMC, NCE, InfoNCE, InvaSpread, Loss, NonParametricSoftmax
from ._comm import Comm, params_broadcast
from ._replay import Novelty, Replay, replay_bytes
from ._checkpoint import Checkpoint, CheckpointWriter, npy_info, npy_read, npy_read_alloc, npy_write

__all__ = [
    "ChecksumError", "CommError", "FormatError", "InvalidArgumentError", "LctError", "LctIOError", "MismatchError",
    "NotFoundError", "NumericError", "OutOfMemoryError", "RangeError", "ShapeError", "StateError", "UnsupportedError",
    "VersionError", "status_string", "error_last", "error_clear", "error_set",
    "LOG_DEBUG", "LOG_ERROR", "LOG_INFO", "LOG_WARN", "Handle", "Params",
    "Runtime", "version", "version_number", "BINDING_MAJOR",
    "Augmenter", "Encoder", "Optimizer", "Bank", "bank_bytes", "knn_classify", "knn_topk",
    "Loss", "NCE", "NonParametricSoftmax", "InvaSpread", "InfoNCE", "CMC",
    "Comm", "params_broadcast", "Replay", "Novelty", "replay_bytes",
    "Checkpoint", "CheckpointWriter", "npy_info", "npy_read", "npy_read_alloc", "npy_write",
]
