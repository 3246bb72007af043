"""Encoder: layers with forward and backward passes, built from builder calls or a text spec."""
import ctypes

from . import _buffers
from ._core import Handle, Params, counter_property
from ._errors import check, check_out
from ._lib import P, c_char_p, c_float, c_int, c_size_t, c_uint32, c_uint64, c_void_p, declare, lib

EVAL, TRAIN = 0, 1
FP32, BF16 = 0, 1
MAX_RANK = 3


class EncoderOptions(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("check_finite", c_uint32)]


declare({
    "lct_encoder_options_init": (c_int, [P(EncoderOptions), c_uint32]),
    "lct_encoder_new": (c_int, [P(c_void_p), c_void_p, P(c_uint32), c_size_t, P(EncoderOptions)]),
    "lct_encoder_new_from_spec": (c_int, [P(c_void_p), c_void_p, c_char_p, P(EncoderOptions)]),
    "lct_encoder_free": (None, [c_void_p]),
    "lct_encoder_add_linear": (c_int, [c_void_p, c_uint32, c_int]),
    "lct_encoder_add_conv2d": (c_int, [c_void_p, c_uint32, c_uint32, c_uint32, c_uint32, c_int]),
    "lct_encoder_add_conv1d": (c_int, [c_void_p, c_uint32, c_uint32, c_uint32, c_uint32, c_int]),
    "lct_encoder_add_batchnorm": (c_int, [c_void_p, c_float, c_float]),
    "lct_encoder_add_relu": (c_int, [c_void_p]),
    "lct_encoder_add_maxpool": (c_int, [c_void_p, c_uint32, c_uint32]),
    "lct_encoder_add_avgpool": (c_int, [c_void_p, c_uint32, c_uint32]),
    "lct_encoder_add_global_avgpool": (c_int, [c_void_p]),
    "lct_encoder_add_flatten": (c_int, [c_void_p]),
    "lct_encoder_add_transpose": (c_int, [c_void_p]),
    "lct_encoder_add_dropout": (c_int, [c_void_p, c_float]),
    "lct_encoder_add_l2norm": (c_int, [c_void_p, c_float]),
    "lct_encoder_add_gru": (c_int, [c_void_p, c_uint32]),
    "lct_encoder_set_mode": (c_int, [c_void_p, c_int]),
    "lct_encoder_get_mode": (c_int, [c_void_p]),
    "lct_encoder_set_precision": (c_int, [c_void_p, c_int]),
    "lct_encoder_get_precision": (c_int, [c_void_p]),
    "lct_encoder_forward": (c_int, [c_void_p, c_void_p, c_size_t, c_void_p]),
    "lct_encoder_backward": (c_int, [c_void_p, c_void_p, c_size_t, c_void_p]),
    "lct_encoder_zero_grad": (c_int, [c_void_p]),
    "lct_encoder_set_comm": (c_int, [c_void_p, c_void_p]),
    "lct_encoder_params": (c_void_p, [c_void_p]),
    "lct_encoder_seal": (c_int, [c_void_p]),
    "lct_encoder_input_shape": (c_int, [c_void_p, P(c_uint32), c_size_t, P(c_size_t)]),
    "lct_encoder_output_shape": (c_int, [c_void_p, P(c_uint32), c_size_t, P(c_size_t)]),
    "lct_encoder_input_size": (c_int, [c_void_p, P(c_size_t)]),
    "lct_encoder_output_size": (c_int, [c_void_p, P(c_size_t)]),
    "lct_encoder_layer_count": (c_int, [c_void_p, P(c_size_t)]),
    "lct_encoder_param_count": (c_int, [c_void_p, P(c_size_t), P(c_size_t)]),
    "lct_encoder_workspace_bytes": (c_int, [c_void_p, c_size_t, P(c_size_t)]),
    "lct_encoder_cost": (c_int, [c_void_p, c_size_t, P(c_uint64), P(c_uint64), P(c_size_t)]),
    "lct_encoder_spec": (c_char_p, [c_void_p]),
    "lct_encoder_step": (c_int, [c_void_p, P(c_uint64)]),
    "lct_encoder_set_step": (c_int, [c_void_p, c_uint64]),
})


def _options(check_finite):
    o = EncoderOptions()
    check(lib.lct_encoder_options_init(ctypes.byref(o), 1))
    o.check_finite = 1 if check_finite else 0
    return o


def _named(value, names):
    """value, or the constant a case-insensitive name stands for (KeyError for an unknown name)."""
    return names[value.lower()] if isinstance(value, str) else value


class Encoder(Handle):
    """A sequence of layers. Encoder(rt, spec="in 1x28x28; ...") or Encoder(rt, shape=(1, 28, 28)).

    With a shape, add layers with the add_*() methods (they return the encoder, so calls chain)
    until the first forward pass or the first use of `params` seals it. See docs/encoder.md.
    """

    _free = staticmethod(lib.lct_encoder_free)

    def __init__(self, runtime, spec=None, shape=None, check_finite=True):
        if (spec is None) == (shape is None):
            raise TypeError("Encoder needs exactly one of spec= and shape=")
        opts = _options(check_finite)
        ptr = c_void_p()
        if spec is not None:
            check(lib.lct_encoder_new_from_spec(ctypes.byref(ptr), runtime.ptr, spec.encode(), ctypes.byref(opts)))
        else:
            shape = tuple(int(v) for v in shape)
            dims = (c_uint32 * max(1, len(shape)))(*shape)
            check(lib.lct_encoder_new(ctypes.byref(ptr), runtime.ptr, dims, len(shape), ctypes.byref(opts)))
        super().__init__(ptr.value, borrows=(runtime,))

    _dims_cache = None

    def _add(self, status):
        check(status)
        self._dims_cache = None  # a new layer changes the output shape
        return self

    def _dims(self):
        """(input size, output size, input shape, output shape), asked from C once per architecture."""
        if self._dims_cache is None or not self._ptr:
            self._dims_cache = (self.input_size, self.output_size, self.input_shape, self.output_shape)
        return self._dims_cache

    def add_linear(self, out_features, bias=True):
        return self._add(lib.lct_encoder_add_linear(self.ptr, out_features, int(bool(bias))))

    def add_conv2d(self, out_channels, kernel, stride=1, padding=0, bias=True):
        return self._add(lib.lct_encoder_add_conv2d(self.ptr, out_channels, kernel, stride, padding, int(bool(bias))))

    def add_conv1d(self, out_channels, kernel, stride=1, padding=0, bias=True):
        return self._add(lib.lct_encoder_add_conv1d(self.ptr, out_channels, kernel, stride, padding, int(bool(bias))))

    def add_batchnorm(self, momentum=0.1, eps=1e-5):
        return self._add(lib.lct_encoder_add_batchnorm(self.ptr, momentum, eps))

    def add_relu(self):
        return self._add(lib.lct_encoder_add_relu(self.ptr))

    def add_maxpool(self, kernel, stride=None):
        return self._add(lib.lct_encoder_add_maxpool(self.ptr, kernel, kernel if stride is None else stride))

    def add_avgpool(self, kernel, stride=None):
        return self._add(lib.lct_encoder_add_avgpool(self.ptr, kernel, kernel if stride is None else stride))

    def add_global_avgpool(self):
        return self._add(lib.lct_encoder_add_global_avgpool(self.ptr))

    def add_flatten(self):
        return self._add(lib.lct_encoder_add_flatten(self.ptr))

    def add_transpose(self):
        return self._add(lib.lct_encoder_add_transpose(self.ptr))

    def add_dropout(self, p=0.5):
        return self._add(lib.lct_encoder_add_dropout(self.ptr, p))

    def add_l2norm(self, eps=1e-12):
        return self._add(lib.lct_encoder_add_l2norm(self.ptr, eps))

    def add_gru(self, hidden):
        return self._add(lib.lct_encoder_add_gru(self.ptr, hidden))

    @property
    def mode(self):
        """EVAL (0) or TRAIN (1); also settable as "eval"/"train"."""
        return check(lib.lct_encoder_get_mode(self.ptr))

    @mode.setter
    def mode(self, value):
        check(lib.lct_encoder_set_mode(self.ptr, _named(value, {"eval": EVAL, "train": TRAIN})))

    @property
    def precision(self):
        """FP32 (0) or BF16 (1): the arithmetic of the linear and conv2d layers' products; also settable as "fp32"/"bf16".
        Setting BF16 raises UnsupportedError on a CPU without AMX-BF16 tiles."""
        return check(lib.lct_encoder_get_precision(self.ptr))

    @precision.setter
    def precision(self, value):
        check(lib.lct_encoder_set_precision(self.ptr, _named(value, {"fp32": FP32, "bf16": BF16})))

    def train(self):
        self.mode = TRAIN
        return self

    def eval(self):
        self.mode = EVAL
        return self

    def _shape(self, fn):
        dims, rank = (c_uint32 * MAX_RANK)(), c_size_t()
        check(fn(self.ptr, dims, MAX_RANK, ctypes.byref(rank)))
        return tuple(dims[:rank.value])

    input_shape = property(lambda self: self._shape(lib.lct_encoder_input_shape))
    output_shape = property(lambda self: self._shape(lib.lct_encoder_output_shape))

    def _size(self, fn):
        return check_out(fn, c_size_t, self.ptr)

    input_size = property(lambda self: self._size(lib.lct_encoder_input_size), doc="Floats per input sample.")
    output_size = property(lambda self: self._size(lib.lct_encoder_output_size), doc="Floats per output sample.")

    def __len__(self):
        return self._size(lib.lct_encoder_layer_count)

    @property
    def param_count(self):
        """(trainable floats, state floats)."""
        return check_out(lib.lct_encoder_param_count, (c_size_t, c_size_t), self.ptr)

    def workspace_bytes(self, batch):
        return check_out(lib.lct_encoder_workspace_bytes, c_size_t, self.ptr, batch)

    def cost(self, batch):
        """(forward FLOPs, backward FLOPs, workspace bytes) of a training step at `batch` (lct_encoder_cost)."""
        return check_out(lib.lct_encoder_cost, (c_uint64, c_uint64, c_size_t), self.ptr, batch)

    @property
    def spec(self):
        """Canonical spec text; Encoder(rt, spec=enc.spec) builds the same architecture."""
        return lib.lct_encoder_spec(self.ptr).decode()

    step = counter_property("lct_encoder_step", "lct_encoder_set_step",
                            "Dropout step counter (train-mode forward passes so far).")

    @property
    def params(self):
        """The parameter set (weights, biases, running statistics); seals the encoder."""
        return Params(lib.lct_encoder_params(self.ptr), self)

    def seal(self):
        """No more layers (lct_encoder_seal); forward, params and saving a checkpoint seal it too."""
        check(lib.lct_encoder_seal(self.ptr))
        return self

    def zero_grad(self):
        check(lib.lct_encoder_zero_grad(self.ptr))

    def set_comm(self, comm):
        """Synchronised batch norm over the ranks of `comm` (None: per-rank statistics again)."""
        check(lib.lct_encoder_set_comm(self.ptr, comm.ptr if comm is not None else None))
        if comm is not None:
            self._borrow(comm)
        return self

    def forward(self, x, out=None):
        """Outputs of a batch: x holds whole input samples (float32). Returns batch × output floats
        (NumPy of shape (batch, *output_shape) when x is a NumPy array, else array.array('f'))."""
        n_in, n_out, _, out_shape = self._dims()
        batch = _buffers.count_of(x, n_in, "x")
        xb = _buffers.floats(x, "x", batch * n_in)
        if out is None:
            out = _buffers.new_floats(batch * n_out, like=x, shape=(batch,) + out_shape)
        yb = _buffers.floats(out, "out", batch * n_out, writable=True)
        check(lib.lct_encoder_forward(self.ptr, xb.address, batch, yb.address))
        return out

    __call__ = forward

    def backward(self, dy, dx=False):
        """Accumulate parameter gradients from dL/dy of the last forward. With dx=True (or a
        writable buffer) also return dL/dx; else return None."""
        n_in, n_out, in_shape, _ = self._dims()
        batch = _buffers.count_of(dy, n_out, "dy")
        db = _buffers.floats(dy, "dy", batch * n_out)
        out, ob = None, None
        if dx is not False and dx is not None:
            out = (_buffers.new_floats(batch * n_in, like=dy, shape=(batch,) + in_shape)
                   if dx is True else dx)
            ob = _buffers.floats(out, "dx", batch * n_in, writable=True)
        check(lib.lct_encoder_backward(self.ptr, db.address, batch, ob.address if ob else None))
        return out
