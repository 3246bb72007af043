"""Loss objects: each method's objective, its value and its gradient with respect to the embeddings.

A loss takes embeddings from anywhere (a libcontrast encoder or the host's own network) as float32
buffers and returns the loss and the gradients; see docs/methods.md for the formulas.
"""
import ctypes

from . import _buffers
from ._core import Handle, Params, enum_value as _enum
from ._errors import check, check_out
from ._lib import P, c_double, c_float, c_int, c_size_t, c_uint32, c_uint64, c_void_p, declare, lib

TEMPERATURE, Z_POLICY, Z_MOMENTUM, NEG_WEIGHT = 1, 2, 3, 4
Z_POLICIES = {"first_batch": 0, "running": 1, "fixed": 2}
NEGATIVES = {"batch": 0, "all": 1, "sequence": 2}
FORMS = {"paper": 0, "code": 1}
GRAPHS = {"core": 0, "full": 1}
OBJECTIVES = {"nce": 0, "softmax": 1}
SAMPLE_MODES = {"replace": 0, "exclude_self": 1, "shared": 2, "shared_exclude": 3}


class NceOptions(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("k", c_uint32), ("sample_mode", ctypes.c_int32),
                ("z_policy", ctypes.c_int32)]


class NpSoftmaxOptions(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("chunk", c_uint32)]


class InvaSpreadOptions(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("form", ctypes.c_int32)]


class InfoNceOptions(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("steps", c_uint32), ("negatives", ctypes.c_int32)]


class CmcOptions(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("graph", ctypes.c_int32), ("objective", ctypes.c_int32),
                ("k", c_uint32), ("sample_mode", ctypes.c_int32), ("z_policy", ctypes.c_int32)]


_F = P(c_float)
declare({
    "lct_loss_nce_options_init": (c_int, [P(NceOptions), c_uint32]),
    "lct_loss_npsoftmax_options_init": (c_int, [P(NpSoftmaxOptions), c_uint32]),
    "lct_loss_invaspread_options_init": (c_int, [P(InvaSpreadOptions), c_uint32]),
    "lct_loss_infonce_options_init": (c_int, [P(InfoNceOptions), c_uint32]),
    "lct_loss_cmc_options_init": (c_int, [P(CmcOptions), c_uint32]),
    "lct_loss_new_nce": (c_int, [P(c_void_p), c_void_p, c_void_p, P(NceOptions)]),
    "lct_loss_new_npsoftmax": (c_int, [P(c_void_p), c_void_p, c_void_p, P(NpSoftmaxOptions)]),
    "lct_loss_new_invaspread": (c_int, [P(c_void_p), c_void_p, c_size_t, P(InvaSpreadOptions)]),
    "lct_loss_new_infonce": (c_int, [P(c_void_p), c_void_p, c_size_t, c_size_t, c_size_t, P(InfoNceOptions)]),
    "lct_loss_new_cmc": (c_int, [P(c_void_p), c_void_p, c_size_t, c_size_t, P(c_void_p), P(CmcOptions)]),
    "lct_loss_free": (None, [c_void_p]),
    "lct_loss_get_kind": (c_int, [c_void_p]),
    "lct_loss_set_comm": (c_int, [c_void_p, c_void_p]),
    "lct_loss_set_param": (c_int, [c_void_p, c_int, c_double]),
    "lct_loss_get_param": (c_int, [c_void_p, c_int, P(c_double)]),
    "lct_loss_param_bounds": (c_int, [c_void_p, c_int, P(c_double), P(c_double)]),
    "lct_loss_get_log_z": (c_int, [c_void_p, c_size_t, P(c_double), P(ctypes.c_int32)]),
    "lct_loss_set_log_z": (c_int, [c_void_p, c_size_t, c_double]),
    "lct_loss_reset_z": (c_int, [c_void_p]),
    "lct_loss_params": (c_void_p, [c_void_p]),
    "lct_loss_workspace_bytes": (c_int, [c_void_p, c_size_t, P(c_size_t)]),
    "lct_loss_cost": (c_int, [c_void_p, c_size_t, P(c_uint64), P(c_size_t)]),
    "lct_loss_nce_compute": (c_int, [c_void_p, c_void_p, c_void_p, c_size_t, _F, c_void_p]),
    "lct_loss_nce_compute_pos": (c_int, [c_void_p, c_void_p, c_void_p, c_void_p, c_size_t, _F, c_void_p, c_void_p]),
    "lct_loss_npsoftmax_compute": (c_int, [c_void_p, c_void_p, c_void_p, c_size_t, _F, c_void_p]),
    "lct_loss_invaspread_compute": (c_int, [c_void_p, c_void_p, c_size_t, _F, c_void_p]),
    "lct_loss_infonce_compute": (c_int, [c_void_p, c_void_p, c_void_p, c_size_t, _F, c_void_p, c_void_p,
                                         c_void_p]),
    "lct_loss_cmc_compute": (c_int, [c_void_p, P(c_void_p), c_void_p, c_size_t, _F, P(c_void_p)]),
    "lct_bank_info": (c_int, [c_void_p, P(c_size_t), P(c_size_t), P(c_int)]),
})


def _bank_dim(bank):
    n, d, storage = c_size_t(), c_size_t(), c_int()
    check(lib.lct_bank_info(bank.ptr, ctypes.byref(n), ctypes.byref(d), ctypes.byref(storage)))
    return d.value


class Loss(Handle):
    """Common part of every objective: tunable parameters, Z state, workspace size."""

    _free = staticmethod(lib.lct_loss_free)

    def __init__(self, ptr, borrows, temperature):
        super().__init__(ptr, borrows=borrows)
        if temperature is not None:
            self.temperature = temperature

    @property
    def kind(self):
        return check(lib.lct_loss_get_kind(self.ptr))

    def set_comm(self, comm):
        """Global in-batch negatives over the ranks of `comm` (InvaSpread, InfoNCE, CMC-softmax)."""
        check(lib.lct_loss_set_comm(self.ptr, comm.ptr if comm is not None else None))
        if comm is not None:
            self._borrow(comm)
        return self

    def set_param(self, param, value):
        check(lib.lct_loss_set_param(self.ptr, param, value))

    def get_param(self, param):
        return check_out(lib.lct_loss_get_param, c_double, self.ptr, param)

    def param_bounds(self, param):
        return check_out(lib.lct_loss_param_bounds, (c_double, c_double), self.ptr, param)

    @property
    def temperature(self):
        return self.get_param(TEMPERATURE)

    @temperature.setter
    def temperature(self, value):
        self.set_param(TEMPERATURE, value)

    def workspace_bytes(self, batch):
        return check_out(lib.lct_loss_workspace_bytes, c_size_t, self.ptr, batch)

    def cost(self, batch):
        """(FLOPs, workspace bytes) of one compute with gradients at `batch` (lct_loss_cost)."""
        return check_out(lib.lct_loss_cost, (c_uint64, c_size_t), self.ptr, batch)

    def log_z(self, view=0):
        """log Z of bank `view`, or None while it is not estimated (NCE objectives only)."""
        v, known = c_double(), ctypes.c_int32()
        check(lib.lct_loss_get_log_z(self.ptr, view, ctypes.byref(v), ctypes.byref(known)))
        return v.value if known.value else None

    def set_log_z(self, value, view=0):
        check(lib.lct_loss_set_log_z(self.ptr, view, value))

    def reset_z(self):
        check(lib.lct_loss_reset_z(self.ptr))

    @property
    def params(self):
        """The trainable tensors (InfoNCE's W_k); empty for the other objectives."""
        return Params(lib.lct_loss_params(self.ptr), self)


class NCE(Loss):
    """InstDisc NCE over a memory bank (any handle whose `ptr` is an lct_bank); D is the bank's."""

    def __init__(self, runtime, bank, k=4096, sample_mode="replace", z_policy="first_batch", temperature=None):
        o = NceOptions()
        check(lib.lct_loss_nce_options_init(ctypes.byref(o), 1))
        o.k, o.sample_mode = k, _enum(SAMPLE_MODES, sample_mode, "sample_mode")
        o.z_policy = _enum(Z_POLICIES, z_policy, "z_policy")
        ptr = c_void_p()
        check(lib.lct_loss_new_nce(ctypes.byref(ptr), runtime.ptr, bank.ptr, ctypes.byref(o)))
        super().__init__(ptr.value, (runtime, bank), temperature)
        self.dim = _bank_dim(bank)

    def compute(self, f, idx, pos=None, out=None):
        """(loss, df[, dpos]) for embeddings f (batch × D) with data-set indices idx.

        out: optional writable float32 buffer for df (a training loop reuses one)."""
        batch = _buffers.count_of(f, self.dim, "f")
        fb = _buffers.floats(f, "f", batch * self.dim)
        ib = _buffers.int_array(idx, "idx", "q", ctypes.c_int64, batch)
        df = out if out is not None else _buffers.new_floats(batch * self.dim, like=f, shape=(batch, self.dim))
        db = _buffers.floats(df, "df", batch * self.dim, writable=True)
        value = c_float()
        if pos is None:
            check(lib.lct_loss_nce_compute(self.ptr, fb.address, ib.address, batch, ctypes.byref(value), db.address))
            return value.value, df
        pb = _buffers.floats(pos, "pos", batch * self.dim)
        dpos = _buffers.new_floats(batch * self.dim, like=f, shape=(batch, self.dim))
        dpb = _buffers.floats(dpos, "dpos", batch * self.dim, writable=True)
        check(lib.lct_loss_nce_compute_pos(self.ptr, fb.address, pb.address, ib.address, batch, ctypes.byref(value),
                                           db.address, dpb.address))
        return value.value, df, dpos


class NonParametricSoftmax(Loss):
    """InstDisc's softmax over every row of a memory bank, in chunks of `chunk` rows."""

    def __init__(self, runtime, bank, chunk=16384, temperature=None):
        o = NpSoftmaxOptions()
        check(lib.lct_loss_npsoftmax_options_init(ctypes.byref(o), 1))
        o.chunk = chunk
        ptr = c_void_p()
        check(lib.lct_loss_new_npsoftmax(ctypes.byref(ptr), runtime.ptr, bank.ptr, ctypes.byref(o)))
        super().__init__(ptr.value, (runtime, bank), temperature)
        self.dim = _bank_dim(bank)

    def compute(self, f, idx):
        batch = _buffers.count_of(f, self.dim, "f")
        fb = _buffers.floats(f, "f", batch * self.dim)
        ib = _buffers.int_array(idx, "idx", "q", ctypes.c_int64, batch)
        df = _buffers.new_floats(batch * self.dim, like=f, shape=(batch, self.dim))
        db = _buffers.floats(df, "df", batch * self.dim, writable=True)
        value = c_float()
        check(lib.lct_loss_npsoftmax_compute(self.ptr, fb.address, ib.address, batch, ctypes.byref(value),
                                             db.address))
        return value.value, df


class InvaSpread(Loss):
    """InvaSpread over 2B embeddings: rows 0..B-1 first views, rows B..2B-1 second views."""

    def __init__(self, runtime, dim, form="paper", temperature=None):
        o = InvaSpreadOptions()
        check(lib.lct_loss_invaspread_options_init(ctypes.byref(o), 1))
        o.form = _enum(FORMS, form, "form")
        ptr = c_void_p()
        check(lib.lct_loss_new_invaspread(ctypes.byref(ptr), runtime.ptr, dim, ctypes.byref(o)))
        super().__init__(ptr.value, (runtime,), temperature)
        self.dim = dim

    def compute(self, x):
        """(loss, dx) for x holding 2B embeddings."""
        rows = _buffers.count_of(x, self.dim, "x")
        if rows % 2:
            raise ValueError("x holds %d embeddings; InvaSpread needs two views of each sample (an even count)" % rows)
        xb = _buffers.floats(x, "x", rows * self.dim)
        dx = _buffers.new_floats(rows * self.dim, like=x, shape=(rows, self.dim))
        db = _buffers.floats(dx, "dx", rows * self.dim, writable=True)
        value = c_float()
        check(lib.lct_loss_invaspread_compute(self.ptr, xb.address, rows // 2, ctypes.byref(value), db.address))
        return value.value, dx


class InfoNCE(Loss):
    """CPC's InfoNCE with W_1..W_K (in `params`, gradients accumulated there)."""

    def __init__(self, runtime, seq_len, latent_dim, context_dim, steps=12, negatives="batch", temperature=None):
        o = InfoNceOptions()
        check(lib.lct_loss_infonce_options_init(ctypes.byref(o), 1))
        o.steps, o.negatives = steps, _enum(NEGATIVES, negatives, "negatives")
        ptr = c_void_p()
        check(lib.lct_loss_new_infonce(ctypes.byref(ptr), runtime.ptr, seq_len, latent_dim, context_dim,
                                       ctypes.byref(o)))
        super().__init__(ptr.value, (runtime,), temperature)
        self.seq_len, self.latent_dim, self.context_dim, self.steps = seq_len, latent_dim, context_dim, steps

    def compute(self, z, c):
        """(loss, dz, dc, accuracy per step) for z (B × T × D) and c (B × T × H)."""
        t, d, h = self.seq_len, self.latent_dim, self.context_dim
        batch = _buffers.count_of(z, t * d, "z")
        zb = _buffers.floats(z, "z", batch * t * d)
        cb = _buffers.floats(c, "c", batch * t * h)
        dz = _buffers.new_floats(batch * t * d, like=z, shape=(batch, t, d))
        dc = _buffers.new_floats(batch * t * h, like=z, shape=(batch, t, h))
        acc = _buffers.new_floats(self.steps, like=z)
        dzb = _buffers.floats(dz, "dz", batch * t * d, writable=True)
        dcb = _buffers.floats(dc, "dc", batch * t * h, writable=True)
        ab = _buffers.floats(acc, "accuracy", self.steps, writable=True)
        value = c_float()
        check(lib.lct_loss_infonce_compute(self.ptr, zb.address, cb.address, batch, ctypes.byref(value), dzb.address,
                                           dcb.address, ab.address))
        return value.value, dz, dc, acc


class CMC(Loss):
    """CMC over V views: in-batch softmax (banks None) or NCE against one bank per view."""

    def __init__(self, runtime, views, dim, banks=None, graph="core", objective=None, k=16384, sample_mode="replace",
                 z_policy="first_batch", temperature=None):
        o = CmcOptions()
        check(lib.lct_loss_cmc_options_init(ctypes.byref(o), 1))
        o.graph = _enum(GRAPHS, graph, "graph")
        o.objective = _enum(OBJECTIVES, objective if objective is not None else ("nce" if banks else "softmax"),
                            "objective")
        o.k, o.sample_mode, o.z_policy = k, _enum(SAMPLE_MODES, sample_mode, "sample_mode"), \
            _enum(Z_POLICIES, z_policy, "z_policy")
        arr = None
        if banks is not None:
            arr = (c_void_p * len(banks))(*[b.ptr for b in banks])
        ptr = c_void_p()
        check(lib.lct_loss_new_cmc(ctypes.byref(ptr), runtime.ptr, views, dim, arr, ctypes.byref(o)))
        super().__init__(ptr.value, (runtime,) + tuple(banks or ()), temperature)
        self.views, self.dim = views, dim

    def compute(self, f, idx=None):
        """(loss, [df per view]) for a sequence of V embedding buffers (batch × D each)."""
        if len(f) != self.views:
            raise ValueError("f holds %d views, this loss has %d" % (len(f), self.views))
        batch = _buffers.count_of(f[0], self.dim, "f[0]")
        fb = [_buffers.floats(v, "f[%d]" % i, batch * self.dim) for i, v in enumerate(f)]
        df = [_buffers.new_floats(batch * self.dim, like=f[0], shape=(batch, self.dim)) for _ in f]
        db = [_buffers.floats(g, "df", batch * self.dim, writable=True) for g in df]
        fa = (c_void_p * self.views)(*[b.address for b in fb])
        da = (c_void_p * self.views)(*[b.address for b in db])
        ib = _buffers.int_array(idx, "idx", "q", ctypes.c_int64, batch) if idx is not None else None
        value = c_float()
        check(lib.lct_loss_cmc_compute(self.ptr, fa, ib.address if ib else None, batch, ctypes.byref(value), da))
        return value.value, df
