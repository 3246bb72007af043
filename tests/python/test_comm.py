"""Communicators through ctypes: the one-process communicator, a Python engine behind the callback
table, data-parallel optimiser, sharded bank and global negatives on one rank, errors."""
import array
import ctypes
import unittest

import libcontrast as lct


class OneRankEngine:
    """A Python engine of one rank: every collective is a copy, counted."""

    def __init__(self):
        self.calls = {}

    def _count(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1

    def rank(self):
        return 0

    def size(self):
        return 1

    def allreduce_sum(self, addr, count):
        self._count("allreduce")

    def allgather(self, send, recv, nbytes):
        self._count("allgather")
        ctypes.memmove(recv, send, nbytes)

    def allgatherv(self, send, send_bytes, recv, recv_bytes, displs):
        self._count("allgatherv")
        ctypes.memmove(recv + displs[0], send, send_bytes)

    def broadcast(self, addr, nbytes, root):
        self._count("broadcast")

    def barrier(self):
        self._count("barrier")


class TwoRankFailingEngine(OneRankEngine):
    """Claims two ranks; every collective fails."""

    def size(self):
        return 2

    def allgather(self, send, recv, nbytes):
        return 5

    def barrier(self):
        raise RuntimeError("the engine is down")


class TestComm(unittest.TestCase):
    def setUp(self):
        self.rt = lct.Runtime(seed=3)

    def tearDown(self):
        self.rt.close()

    def test_self_comm_collectives(self):
        with lct.Comm(self.rt) as c:
            self.assertEqual((c.rank, c.size), (0, 1))
            self.assertEqual(list(c.allreduce_sum([1.5, 2.0])), [1.5, 2.0])
            self.assertEqual(c.allgather(b"abc"), b"abc")
            self.assertEqual(c.broadcast(b"xy", 0), b"xy")
            c.barrier()
            with self.assertRaises(lct.RangeError):
                c.broadcast(b"xy", 1)

    def test_python_engine(self):
        e = OneRankEngine()
        with lct.Comm(self.rt, engine=e) as c:
            self.assertEqual((c.rank, c.size), (0, 1))
            c.barrier()  # one rank: nothing to wait for, the engine is not called
            self.assertEqual(e.calls, {})

    def test_failing_engine(self):
        with lct.Comm(self.rt, engine=TwoRankFailingEngine()) as c:
            self.assertEqual(c.size, 2)
            with self.assertRaises(lct.CommError) as cm:
                c.allgather(b"ab")
            self.assertIn("allgather", str(cm.exception))
            with self.assertRaises(lct.CommError):
                c.barrier()

    def test_data_parallel_on_one_rank(self):
        enc = lct.Encoder(self.rt, shape=(3,)).add_linear(2)
        c = lct.Comm(self.rt)
        opt = lct.Optimizer(self.rt, "sgd", lr=0.1, params=[enc]).set_comm(c)
        lct.params_broadcast(enc.params, c, 0)
        enc.forward(array.array("f", [1.0, 2.0, 3.0]))
        enc.backward(array.array("f", [1.0, -1.0]))
        before = list(enc.params.get(0))
        opt.step()
        self.assertNotEqual(before, list(enc.params.get(0)))
        opt.set_comm(None)
        enc.set_comm(c)
        enc.forward(array.array("f", [1.0, 2.0, 3.0]))
        enc.set_comm(None)
        with self.assertRaises(lct.RangeError):
            lct.params_broadcast(enc.params, c, 1)
        other = lct.Runtime(seed=3)
        c2 = lct.Comm(other)
        with self.assertRaises(lct.MismatchError):
            opt.set_comm(c2)
        with self.assertRaises(lct.MismatchError):
            enc.set_comm(c2)
        opt.close()
        enc.close()
        c.close()
        c2.close()
        other.close()

    def test_sharded_bank_and_losses_on_one_rank(self):
        c = lct.Comm(self.rt)
        bank = lct.Bank(self.rt, 8, 4, normalize=True, comm=c)
        self.assertEqual(bank.shard, (0, 8, 0, 1))
        plain = lct.Bank(self.rt, 8, 4)
        self.assertEqual(plain.shard, (0, 8, 0, 1))
        inv = lct.InvaSpread(self.rt, 4).set_comm(c)
        x = array.array("f", [0.1 * i for i in range(16)])
        loss, dx = inv.compute(x)
        self.assertGreater(loss, 0.0)
        nce = lct.NCE(self.rt, bank)
        with self.assertRaises(lct.UnsupportedError):
            nce.set_comm(c)
        for h in (nce, inv, plain, bank, c):
            h.close()

    def test_error_set(self):
        self.assertEqual(lct.error_set(-13, "engine: link down"), -13)
        self.assertEqual(lct.error_last(), "engine: link down")
        lct.error_clear()


if __name__ == "__main__":
    unittest.main()
