"""Communicators: the collectives of data-parallel training (docs/distributed.md).

Comm(runtime) is the one-process communicator. Comm(runtime, engine=obj) plugs a Python engine
behind the callback table: obj has rank(), size() and, taking raw addresses (ints) and byte counts,
allreduce_sum(addr, count), allgather(send, recv, nbytes), allgatherv(send, send_bytes, recv,
recv_bytes, displs), broadcast(addr, nbytes, root), barrier(); each returns None or 0 on success,
another int on failure. A handle that uses a communicator keeps it alive.
"""
import ctypes

from ._core import Handle
from ._errors import check
from ._lib import P, c_int, c_size_t, c_uint32, c_void_p, declare, lib

RANK_FN = ctypes.CFUNCTYPE(c_int, c_void_p)
ALLREDUCE_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
ALLGATHER_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_void_p, c_size_t)
ALLGATHERV_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, c_void_p, P(c_size_t), P(c_size_t))
BROADCAST_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, c_int)
RELEASE_FN = ctypes.CFUNCTYPE(None, c_void_p)


class CommOps(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("rank", RANK_FN), ("size", RANK_FN), ("allreduce_sum_f32", ALLREDUCE_FN),
                ("allgather", ALLGATHER_FN), ("allgatherv", ALLGATHERV_FN), ("broadcast", BROADCAST_FN),
                ("barrier", RANK_FN), ("release", RELEASE_FN)]


declare({
    "lct_comm_ops_init": (c_int, [P(CommOps), c_uint32]),
    "lct_comm_new": (c_int, [P(c_void_p), c_void_p, P(CommOps), c_void_p]),
    "lct_comm_new_self": (c_int, [P(c_void_p), c_void_p]),
    "lct_comm_free": (None, [c_void_p]),
    "lct_comm_rank": (c_int, [c_void_p]),
    "lct_comm_size": (c_int, [c_void_p]),
    "lct_comm_allreduce_sum": (c_int, [c_void_p, c_void_p, c_size_t]),
    "lct_comm_allgather": (c_int, [c_void_p, c_void_p, c_void_p, c_size_t]),
    "lct_comm_broadcast": (c_int, [c_void_p, c_void_p, c_size_t, c_int]),
    "lct_comm_barrier": (c_int, [c_void_p]),
    "lct_params_broadcast": (c_int, [c_void_p, c_void_p, c_int]),
})


def _guard(fn):
    """A callback that never lets an exception cross into C: an exception becomes failure code -1."""
    def call(*args):
        try:
            r = fn(*args)
            return 0 if r is None else int(r)
        except Exception:
            return -1
    return call


class Comm(Handle):
    """A communicator of `size` ranks; this process is `rank`."""

    _free = staticmethod(lib.lct_comm_free)

    def __init__(self, runtime, engine=None):
        ptr = c_void_p()
        self._ops = None
        if engine is None:
            check(lib.lct_comm_new_self(ctypes.byref(ptr), runtime.ptr))
        else:
            ops = CommOps()
            check(lib.lct_comm_ops_init(ctypes.byref(ops), 1))
            e = engine
            ops.rank = RANK_FN(lambda _u: int(e.rank()))
            ops.size = RANK_FN(lambda _u: int(e.size()))
            ops.allreduce_sum_f32 = ALLREDUCE_FN(_guard(lambda _u, buf, n: e.allreduce_sum(buf, n)))
            ops.allgather = ALLGATHER_FN(_guard(lambda _u, s, r, n: e.allgather(s, r, n)))
            ops.allgatherv = ALLGATHERV_FN(_guard(lambda _u, s, sb, r, rb, dp: e.allgatherv(
                s, sb, r, [rb[i] for i in range(e.size())], [dp[i] for i in range(e.size())])))
            ops.broadcast = BROADCAST_FN(_guard(lambda _u, b, n, root: e.broadcast(b, n, root)))
            ops.barrier = RANK_FN(_guard(lambda _u: e.barrier()))
            self._ops = ops  # the callbacks must outlive the communicator
            check(lib.lct_comm_new(ctypes.byref(ptr), runtime.ptr, ctypes.byref(ops), None))
        super().__init__(ptr.value, borrows=(runtime, engine))

    @property
    def rank(self):
        return check(lib.lct_comm_rank(self.ptr))

    @property
    def size(self):
        return check(lib.lct_comm_size(self.ptr))

    def allreduce_sum(self, values):
        """Sum of a float sequence over the ranks (a new array.array('f'))."""
        import array
        buf = array.array("f", values)
        addr, n = buf.buffer_info()
        check(lib.lct_comm_allreduce_sum(self.ptr, addr, n))
        return buf

    def allgather(self, data):
        """Every rank's bytes `data` (the same length everywhere), concatenated in rank order."""
        data = bytes(data)
        out = ctypes.create_string_buffer(len(data) * self.size)
        check(lib.lct_comm_allgather(self.ptr, data, out, len(data)))
        return out.raw

    def broadcast(self, data, root=0):
        """Rank root's bytes (`data` gives the length on every rank)."""
        buf = ctypes.create_string_buffer(bytes(data), len(data))
        check(lib.lct_comm_broadcast(self.ptr, buf, len(data), root))
        return buf.raw

    def barrier(self):
        check(lib.lct_comm_barrier(self.ptr))


def params_broadcast(params, comm, root=0):
    """Copy every tensor of a parameter set (enc.params, loss.params) from rank root to every rank."""
    check(lib.lct_params_broadcast(params._p, comm.ptr, root))
