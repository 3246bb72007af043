"""Learning from a stream: the replay store (FIFO, reservoir, MinRed) and novelty scores."""
import ctypes

from . import _buffers
from ._core import Handle, enum_value as _enum, item_property
from ._errors import check, check_out
from ._lib import P, c_double, c_float, c_int, c_size_t, c_uint32, c_uint64, c_void_p, declare, lib

ELEMS = {"u8": 0, "f32": 1}
POLICIES = {"fifo": 0, "reservoir": 1, "minred": 2}
_I64 = ctypes.c_int64


class ReplayOptions(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("elem", ctypes.c_int32), ("policy", ctypes.c_int32), ("refresh", c_uint32)]


class NoveltyOptions(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("k", c_uint32), ("momentum", c_float)]


declare({
    "lct_replay_options_init": (c_int, [P(ReplayOptions), c_uint32]),
    "lct_replay_bytes": (c_int, [c_size_t, P(c_uint32), c_size_t, P(ReplayOptions), P(c_size_t)]),
    "lct_replay_new": (c_int, [P(c_void_p), c_void_p, c_size_t, P(c_uint32), c_size_t, P(ReplayOptions)]),
    "lct_replay_free": (None, [c_void_p]),
    "lct_replay_info": (c_int, [c_void_p, P(c_size_t), P(c_size_t), P(c_uint64), P(c_size_t)]),
    "lct_replay_bind_bank": (c_int, [c_void_p, c_void_p]),
    "lct_replay_insert": (c_int, [c_void_p, c_void_p, c_size_t, c_void_p, c_void_p]),
    "lct_replay_sample": (c_int, [c_void_p, c_size_t, c_void_p, c_void_p]),
    "lct_replay_get": (c_int, [c_void_p, c_void_p, c_size_t, c_void_p, c_void_p]),
    "lct_replay_touch": (c_int, [c_void_p, c_void_p, c_size_t]),
    "lct_novelty_options_init": (c_int, [P(NoveltyOptions), c_uint32]),
    "lct_novelty_new": (c_int, [P(c_void_p), c_void_p, c_void_p, P(NoveltyOptions)]),
    "lct_novelty_free": (None, [c_void_p]),
    "lct_novelty_score": (c_int, [c_void_p, c_void_p, c_size_t, c_size_t, c_void_p, c_void_p]),
    "lct_novelty_stats": (c_int, [c_void_p, P(c_double), P(c_double), P(c_uint64)]),
    "lct_novelty_reset": (c_int, [c_void_p]),
})


def _options(elem, policy, refresh):
    o = ReplayOptions()
    check(lib.lct_replay_options_init(ctypes.byref(o), 1))
    o.elem = _enum(ELEMS, elem, "elem")
    o.policy = _enum(POLICIES, policy, "policy")
    if refresh is not None:
        o.refresh = refresh
    return o


def _shape(shape):
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return (c_uint32 * max(len(shape), 1))(*shape), len(shape)


def replay_bytes(capacity, shape, elem="u8", policy="fifo", refresh=None):
    """Bytes a replay of `capacity` samples of `shape` needs, before creating it (see lct_replay_bytes)."""
    o = _options(elem, policy, refresh)
    dims, rank = _shape(shape)
    out = c_size_t()
    check(lib.lct_replay_bytes(capacity, dims, rank, ctypes.byref(o), ctypes.byref(out)))
    return out.value


class Replay(Handle):
    """A fixed number of raw samples (uint8 "u8" or float32 "f32") of one shape, in slots.

    `policy` chooses the slot a sample takes once the replay is full: "fifo", "reservoir" or
    "minred" (needs a bank bound with bind_bank() while the replay is empty). Samples cross as
    buffers of count x prod(shape) elements (bytes, array.array('B'/'f'), NumPy arrays).
    """

    _free = staticmethod(lib.lct_replay_free)

    def __init__(self, runtime, capacity, shape, elem="u8", policy="fifo", refresh=None):
        o = _options(elem, policy, refresh)
        dims, rank = _shape(shape)
        ptr = c_void_p()
        check(lib.lct_replay_new(ctypes.byref(ptr), runtime.ptr, capacity, dims, rank, ctypes.byref(o)))
        super().__init__(ptr.value, borrows=(runtime,))
        self._f32 = o.elem == 1
        self._elems = 1
        for d in dims[:rank]:
            self._elems *= d
        self._bank = None

    @property
    def info(self):
        """(capacity, count, seen, sample_bytes)."""
        return check_out(lib.lct_replay_info, (c_size_t, c_size_t, c_uint64, c_size_t), self.ptr)

    capacity = item_property("info", 0, "Slots.")
    seen = item_property("info", 2, "Samples offered so far.")

    def __len__(self):
        return self.info[1]

    def bind_bank(self, bank):
        """Bank row s then follows slot s (bank of `capacity` rows; while the replay is empty). None unbinds."""
        check(lib.lct_replay_bind_bank(self.ptr, bank.ptr if bank is not None else None))
        if bank is not None and bank is not self._bank:
            self._borrow(bank)
        self._bank = bank

    def _samples(self, samples, name):
        if self._f32:
            count = _buffers.count_of(samples, self._elems, name)
            return count, _buffers.floats(samples, name, count * self._elems)
        nbytes = memoryview(samples).nbytes
        if nbytes == 0 or nbytes % self._elems:
            raise ValueError("%s holds %d bytes, not a whole number of %d-byte samples" % (name, nbytes, self._elems))
        return nbytes // self._elems, _buffers.bytes_u8(samples, name)

    def _new_samples(self, count, like):
        if self._f32:
            return _buffers.new_floats(count * self._elems, like=like, shape=(count, self._elems))
        if like is not None and _buffers.is_numpy(like):
            import numpy
            return numpy.zeros((count, self._elems), dtype=numpy.uint8)
        return bytearray(count * self._elems)

    def _out(self, out, count):
        if self._f32:
            return _buffers.floats(out, "out", count * self._elems, writable=True)
        return _buffers._pointer(out, memoryview(out), True, "out")

    def insert(self, samples, embeddings=None):
        """Offer samples in order; returns each one's slot (int64), -1 where it was dropped."""
        count, sb = self._samples(samples, "samples")
        eb = None
        if embeddings is not None:
            eb = _buffers.floats(embeddings, "embeddings", count * self._bank.d if self._bank is not None else None)
        slots = _buffers.new_ints(count, "q", like=samples)
        ob = _buffers.int_array(slots, "slots", "q", _I64, count, writable=True)
        check(lib.lct_replay_insert(self.ptr, sb.address, count, eb.address if eb else None, ob.address))
        return slots

    def sample(self, batch, like=None):
        """(samples, slots): a batch of distinct stored samples drawn uniformly, and their slots."""
        out = self._new_samples(batch, like)
        slots = _buffers.new_ints(batch, "q", like=like)
        ob = self._out(out, batch)
        sl = _buffers.int_array(slots, "slots", "q", _I64, batch, writable=True)
        check(lib.lct_replay_sample(self.ptr, batch, ob.address, sl.address))
        return out, slots

    def get(self, slots, ages=False):
        """The samples of `slots`; with ages=True, (samples, insertion numbers)."""
        sb = _buffers.int_array(slots, "slots", "q", _I64)
        count = sb.nbytes // 8
        out = self._new_samples(count, slots)
        ob = self._out(out, count)
        ag = _buffers.new_ints(count, "q", like=slots) if ages else None
        ab = _buffers.int_array(ag, "ages", "q", _I64, count, writable=True) if ages else None
        check(lib.lct_replay_get(self.ptr, sb.address, count, ob.address, ab.address if ab else None))
        return (out, ag) if ages else out

    def touch(self, slots):
        """MinRed: the bank rows of `slots` changed; measure their redundancy again."""
        sb = _buffers.int_array(slots, "slots", "q", _I64)
        check(lib.lct_replay_touch(self.ptr, sb.address, sb.nbytes // 8))


class Novelty(Handle):
    """Novelty of embeddings: mean cosine distance to the k nearest rows of `bank`, and z against running stats."""

    _free = staticmethod(lib.lct_novelty_free)

    def __init__(self, runtime, bank, k=None, momentum=None):
        o = NoveltyOptions()
        check(lib.lct_novelty_options_init(ctypes.byref(o), 1))
        if k is not None:
            o.k = k
        if momentum is not None:
            o.momentum = momentum
        ptr = c_void_p()
        check(lib.lct_novelty_new(ctypes.byref(ptr), runtime.ptr, bank.ptr, ctypes.byref(o)))
        super().__init__(ptr.value, borrows=(runtime, bank))
        self._d = bank.d
        self._n = bank.n

    def score(self, f, rows=None):
        """(scores, z) of the embeddings f (batch x D) against bank rows [0, rows) (default: all)."""
        batch = _buffers.count_of(f, self._d, "f")
        fb = _buffers.floats(f, "f", batch * self._d)
        score = _buffers.new_floats(batch, like=f)
        z = _buffers.new_floats(batch, like=f)
        sb = _buffers.floats(score, "score", batch, writable=True)
        zb = _buffers.floats(z, "z", batch, writable=True)
        check(lib.lct_novelty_score(self.ptr, fb.address, batch, self._n if rows is None else rows, sb.address,
                                    zb.address))
        return score, z

    @property
    def stats(self):
        """(mean, deviation, count) of the scores seen so far."""
        m, d, n = c_double(), c_double(), c_uint64()
        check(lib.lct_novelty_stats(self.ptr, ctypes.byref(m), ctypes.byref(d), ctypes.byref(n)))
        return m.value, d.value, n.value

    def reset(self):
        check(lib.lct_novelty_reset(self.ptr))
