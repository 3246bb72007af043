"""Memory bank (N×D rows, negative sampling, similarities, updates) and kNN evaluation."""
import ctypes

from . import _buffers
from ._core import Handle, enum_value as _enum, item_property
from ._errors import check, check_out
from ._lib import P, c_double, c_float, c_int, c_size_t, c_uint32, c_void_p, declare, lib

STORAGES = {"fp32": 0, "fp16": 1}
INITS = {"uniform": 0, "zero": 1, "keep": 2}
SAMPLE_MODES = {"replace": 0, "exclude_self": 1, "shared": 2, "shared_exclude": 3}
UPDATE_RULES = {"momentum": 0, "proximal": 1}
_I64 = ctypes.c_int64
_I32 = ctypes.c_int32


class BankOptions(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("storage", ctypes.c_int32), ("init", ctypes.c_int32),
                ("normalize", ctypes.c_int32), ("buffer", c_void_p), ("buffer_bytes", c_size_t)]


class BankUpdateOptions(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("rule", ctypes.c_int32), ("momentum", c_float), ("lambda_", c_float),
                ("normalize", ctypes.c_int32)]


declare({
    "lct_bank_options_init": (c_int, [P(BankOptions), c_uint32]),
    "lct_bank_bytes": (c_int, [c_size_t, c_size_t, c_int, P(c_size_t)]),
    "lct_bank_new": (c_int, [P(c_void_p), c_void_p, c_size_t, c_size_t, P(BankOptions)]),
    "lct_bank_new_sharded": (c_int, [P(c_void_p), c_void_p, c_size_t, c_size_t, c_void_p, P(BankOptions)]),
    "lct_bank_shard": (c_int, [c_void_p, P(c_size_t), P(c_size_t), P(c_int), P(c_int)]),
    "lct_bank_free": (None, [c_void_p]),
    "lct_bank_info": (c_int, [c_void_p, P(c_size_t), P(c_size_t), P(c_int)]),
    "lct_bank_get_rows": (c_int, [c_void_p, c_size_t, c_size_t, c_void_p]),
    "lct_bank_set_rows": (c_int, [c_void_p, c_size_t, c_size_t, c_void_p]),
    "lct_bank_gather": (c_int, [c_void_p, c_void_p, c_size_t, c_void_p]),
    "lct_bank_sample": (c_int, [c_void_p, c_void_p, c_size_t, c_size_t, c_int, c_void_p]),
    "lct_bank_similarity": (c_int, [c_void_p, c_void_p, c_size_t, c_void_p, c_void_p, c_size_t, c_int, c_void_p]),
    "lct_bank_similarity_all": (c_int, [c_void_p, c_void_p, c_size_t, c_size_t, c_size_t, c_void_p, c_size_t]),
    "lct_bank_update_options_init": (c_int, [P(BankUpdateOptions), c_uint32]),
    "lct_bank_update": (c_int, [c_void_p, c_void_p, c_void_p, c_size_t, c_float]),
    "lct_bank_update_ex": (c_int, [c_void_p, c_void_p, c_void_p, c_size_t, P(BankUpdateOptions)]),
    "lct_bank_proximal": (c_int, [c_void_p, c_void_p, c_void_p, c_size_t, c_float, c_void_p, P(c_double)]),
    "lct_knn_topk": (c_int, [c_void_p, c_void_p, c_size_t, c_size_t, c_void_p, c_size_t, c_size_t, c_void_p,
                             c_void_p]),
    "lct_knn_topk_bank": (c_int, [c_void_p, c_void_p, c_size_t, c_size_t, c_void_p, c_void_p]),
    "lct_knn_classify": (c_int, [c_void_p, c_void_p, c_void_p, c_size_t, c_size_t, c_void_p, c_size_t, c_size_t,
                                 c_float, ctypes.c_int32, c_void_p, c_void_p]),
    "lct_knn_classify_bank": (c_int, [c_void_p, c_void_p, c_void_p, c_size_t, c_size_t, c_float, ctypes.c_int32,
                                      c_void_p, c_void_p]),
})


def _rows_of(buf, d, name):
    return _buffers.count_of(buf, d, name, "rows")


def _idx(obj, name, count):
    return _buffers.int_array(obj, name, "q", _I64, count)


def bank_bytes(n, d, storage="fp32"):
    """Bytes a bank of n rows of d elements needs (see lct_bank_bytes)."""
    out = c_size_t()
    check(lib.lct_bank_bytes(n, d, _enum(STORAGES, storage, "storage"), ctypes.byref(out)))
    return out.value


class Bank(Handle):
    """N×D memory bank. `buffer`: optional writable host storage (kept alive by the bank).

    With `comm` the bank is sharded over its ranks (lct_bank_new_sharded): this rank stores the rows
    of `shard`; see docs/distributed.md.
    """

    _free = staticmethod(lib.lct_bank_free)

    def __init__(self, runtime, n, d, storage="fp32", init="uniform", normalize=False, buffer=None, comm=None):
        o = BankOptions()
        check(lib.lct_bank_options_init(ctypes.byref(o), 1))
        o.storage = _enum(STORAGES, storage, "storage")
        o.init = _enum(INITS, init, "init")
        o.normalize = int(bool(normalize))
        hb = None
        if buffer is not None:
            mv = memoryview(buffer)
            if mv.readonly:
                raise TypeError("buffer must be writable (the bank stores its rows there)")
            if not mv.c_contiguous:
                raise ValueError("buffer must be C-contiguous")
            raw = mv.cast("B") if mv.ndim != 1 or mv.format != "B" else mv
            hb = (ctypes.c_char * raw.nbytes).from_buffer(raw)
            o.buffer, o.buffer_bytes = ctypes.addressof(hb), raw.nbytes
        ptr = c_void_p()
        if comm is None:
            check(lib.lct_bank_new(ctypes.byref(ptr), runtime.ptr, n, d, ctypes.byref(o)))
        else:
            check(lib.lct_bank_new_sharded(ctypes.byref(ptr), runtime.ptr, n, d, comm.ptr, ctypes.byref(o)))
        super().__init__(ptr.value, borrows=(runtime,) + ((hb, buffer) if hb is not None else ()) +
                         ((comm,) if comm is not None else ()))

    @property
    def shard(self):
        """(offset, count, rank, size): this rank's rows; (0, N, 0, 1) for an unsharded bank."""
        off, cnt, r, s = c_size_t(), c_size_t(), c_int(), c_int()
        check(lib.lct_bank_shard(self.ptr, ctypes.byref(off), ctypes.byref(cnt), ctypes.byref(r), ctypes.byref(s)))
        return off.value, cnt.value, r.value, s.value

    @property
    def info(self):
        """(n, d, storage) with storage 0 (fp32) or 1 (fp16)."""
        return check_out(lib.lct_bank_info, (c_size_t, c_size_t, c_int), self.ptr)

    n = item_property("info", 0, "Rows.")
    d = item_property("info", 1, "Floats per row.")

    def __len__(self):
        return self.n

    def get_rows(self, first=0, count=None, out=None, like=None):
        n, d, _ = self.info
        count = n - first if count is None else count
        if out is None:
            out = _buffers.new_floats(count * d, like=like, shape=(count, d))
        ob = _buffers.floats(out, "out", count * d, writable=True)
        check(lib.lct_bank_get_rows(self.ptr, first, count, ob.address))
        return out

    def set_rows(self, first, rows):
        d = self.d
        count = _rows_of(rows, d, "rows")
        rb = _buffers.floats(rows, "rows", count * d)
        check(lib.lct_bank_set_rows(self.ptr, first, count, rb.address))

    def gather(self, idx, out=None):
        d = self.d
        ib = _idx(idx, "idx", None)
        count = ib.nbytes // 8
        if out is None:
            out = _buffers.new_floats(count * d, like=idx, shape=(count, d))
        ob = _buffers.floats(out, "out", count * d, writable=True)
        check(lib.lct_bank_gather(self.ptr, ib.address, count, ob.address))
        return out

    def sample(self, batch, k, mode="replace", self_idx=None):
        """Negative indices: batch × k (per-sample modes) or k (shared modes), int64."""
        m = _enum(SAMPLE_MODES, mode, "mode")
        sb = _idx(self_idx, "self_idx", batch) if self_idx is not None else None
        count = k if m >= 2 else batch * k
        out = _buffers.new_ints(count, "q", like=self_idx, shape=(k,) if m >= 2 else (batch, k))
        ob = _buffers.int_array(out, "out", "q", _I64, count, writable=True)
        check(lib.lct_bank_sample(self.ptr, sb.address if sb else None, batch, k, m, ob.address))
        return out

    def similarity(self, f, pos_idx, neg_idx, k, mode="replace"):
        """batch × (k+1): column 0 the positive's similarity, then the negatives'."""
        d = self.d
        m = _enum(SAMPLE_MODES, mode, "mode")
        batch = _rows_of(f, d, "f")
        fb = _buffers.floats(f, "f", batch * d)
        pb = _idx(pos_idx, "pos_idx", batch)
        nb = _idx(neg_idx, "neg_idx", k if m >= 2 else batch * k)
        out = _buffers.new_floats(batch * (k + 1), like=f, shape=(batch, k + 1))
        ob = _buffers.floats(out, "out", batch * (k + 1), writable=True)
        check(lib.lct_bank_similarity(self.ptr, fb.address, batch, pb.address, nb.address, k, m, ob.address))
        return out

    def similarity_all(self, f, first=0, count=None):
        """batch × count similarities of f with rows [first, first+count)."""
        n, d, _ = self.info
        count = n - first if count is None else count
        batch = _rows_of(f, d, "f")
        fb = _buffers.floats(f, "f", batch * d)
        out = _buffers.new_floats(batch * count, like=f, shape=(batch, count))
        ob = _buffers.floats(out, "out", batch * count, writable=True)
        check(lib.lct_bank_similarity_all(self.ptr, fb.address, batch, first, count, ob.address, count))
        return out

    def update(self, f, idx, momentum=0.5):
        d = self.d
        batch = _rows_of(f, d, "f")
        fb = _buffers.floats(f, "f", batch * d)
        ib = _idx(idx, "idx", batch)  # held in a local: its memory must live through the call
        check(lib.lct_bank_update(self.ptr, fb.address, ib.address, batch, momentum))

    def update_ex(self, f, idx, rule="momentum", momentum=None, lambda_=None, normalize=None):
        o = BankUpdateOptions()
        check(lib.lct_bank_update_options_init(ctypes.byref(o), 1))
        o.rule = _enum(UPDATE_RULES, rule, "rule")
        if momentum is not None:
            o.momentum = momentum
        if lambda_ is not None:
            o.lambda_ = lambda_
        if normalize is not None:
            o.normalize = int(bool(normalize))
        d = self.d
        batch = _rows_of(f, d, "f")
        fb = _buffers.floats(f, "f", batch * d)
        ib = _idx(idx, "idx", batch)
        check(lib.lct_bank_update_ex(self.ptr, fb.address, ib.address, batch, ctypes.byref(o)))

    def proximal(self, f, idx, lambda_, grad=None):
        """λ Σ‖f[b] − row(idx[b])‖²; with a writable `grad` buffer, 2λ(f − row) is added into it."""
        d = self.d
        batch = _rows_of(f, d, "f")
        fb = _buffers.floats(f, "f", batch * d)
        gb = _buffers.floats(grad, "grad", batch * d, writable=True) if grad is not None else None
        pen = c_double()
        ib = _idx(idx, "idx", batch)
        check(lib.lct_bank_proximal(self.ptr, fb.address, ib.address, batch, lambda_,
                                    gb.address if gb else None, ctypes.byref(pen)))
        return pen.value

    def topk(self, queries, k):
        """(idx, sim) of the k rows most similar to each query (q × k each)."""
        d = self.d
        q = _rows_of(queries, d, "queries")
        qb = _buffers.floats(queries, "queries", q * d)
        idx = _buffers.new_ints(q * k, "q", like=queries, shape=(q, k))
        sim = _buffers.new_floats(q * k, like=queries, shape=(q, k))
        ib = _buffers.int_array(idx, "idx", "q", _I64, q * k, writable=True)
        sb = _buffers.floats(sim, "sim", q * k, writable=True)
        check(lib.lct_knn_topk_bank(self.ptr, qb.address, q, k, ib.address, sb.address))
        return idx, sim

    def classify(self, labels, queries, k=200, tau=0.07, n_classes=None, scores=False):
        """Weighted kNN predictions (int32) with the bank rows as features; (pred, scores) if scores."""
        n, d, _ = self.info
        return self._classify(labels, n, d, queries, k, tau, n_classes, scores)

    def _classify(self, labels, n, d, queries, k, tau, n_classes, scores):
        q, lb, qb, nc, pred, pb, sc, sb = _prepare(labels, n, d, queries, n_classes, scores)
        check(lib.lct_knn_classify_bank(self.ptr, lb.address, qb.address, q, k, tau, nc, pb.address,
                                        sb.address if sb else None))
        return (pred, sc) if scores else pred


def _prepare(labels, n, d, queries, n_classes, scores):
    q = _rows_of(queries, d, "queries")
    qb = _buffers.floats(queries, "queries", q * d)
    lb = _buffers.int_array(labels, "labels", "i", _I32, n)
    if n_classes is None:
        n_classes = max(labels) + 1
    pred = _buffers.new_ints(q, "i", like=queries)
    pb = _buffers.int_array(pred, "pred", "i", _I32, q, writable=True)
    sc = sb = None
    if scores:
        sc = _buffers.new_floats(q * n_classes, like=queries, shape=(q, n_classes))
        sb = _buffers.floats(sc, "scores", q * n_classes, writable=True)
    return q, lb, qb, int(n_classes), pred, pb, sc, sb


def knn_topk(runtime, features, d, queries, k):
    """(idx, sim): for each query the k most similar rows of features (n × d), q × k each."""
    n = _rows_of(features, d, "features")
    q = _rows_of(queries, d, "queries")
    fb = _buffers.floats(features, "features", n * d)
    qb = _buffers.floats(queries, "queries", q * d)
    idx = _buffers.new_ints(q * k, "q", like=queries, shape=(q, k))
    sim = _buffers.new_floats(q * k, like=queries, shape=(q, k))
    ib = _buffers.int_array(idx, "idx", "q", _I64, q * k, writable=True)
    sb = _buffers.floats(sim, "sim", q * k, writable=True)
    check(lib.lct_knn_topk(runtime.ptr, fb.address, n, d, qb.address, q, k, ib.address, sb.address))
    return idx, sim


def knn_classify(runtime, features, labels, d, queries, k=200, tau=0.07, n_classes=None, scores=False):
    """Weighted kNN (InstDisc's protocol): int32 predictions for each query; (pred, scores) if scores."""
    n = _rows_of(features, d, "features")
    fb = _buffers.floats(features, "features", n * d)
    q, lb, qb, nc, pred, pb, sc, sb = _prepare(labels, n, d, queries, n_classes, scores)
    check(lib.lct_knn_classify(runtime.ptr, fb.address, lb.address, n, d, qb.address, q, k, tau, nc, pb.address,
                               sb.address if sb else None))
    return (pred, sc) if scores else pred
