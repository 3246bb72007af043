"""The replay, novelty and step costs through ctypes: policies, bank rows that follow slots, checkpoints, errors."""
import array
import math
import os
import random
import tempfile
import unittest

import libcontrast as lct

from helpers import HandleTest, numpy


def unit(v):
    s = math.sqrt(sum(x * x for x in v))
    return [x / s for x in v]


class TestReplay(HandleTest):
    RUNTIME = dict(seed=5)

    def test_fifo_slots_samples_and_ages(self):
        rp = self.keep(lct.Replay(self.rt, 3, (2,)))
        self.assertEqual(rp.info, (3, 0, 0, 2))
        slots = rp.insert(bytes([i for k in range(7) for i in (k, 100 + k)]))
        self.assertEqual(list(slots), [0, 1, 2, 0, 1, 2, 0])
        self.assertEqual((rp.capacity, len(rp), rp.seen), (3, 3, 7))
        out, ages = rp.get([0, 1, 2], ages=True)
        self.assertEqual(list(ages), [6, 4, 5])
        self.assertEqual(bytes(out), bytes([6, 106, 4, 104, 5, 105]))
        batch, drawn = rp.sample(2)
        self.assertEqual(len(set(drawn)), 2)
        for i, s in enumerate(drawn):
            self.assertEqual(bytes(batch)[2 * i:2 * i + 2], bytes(rp.get([s])))
        with self.assertRaises(lct.RangeError):
            rp.sample(4)
        with self.assertRaises(lct.RangeError):
            rp.get([3])
        with self.assertRaises(ValueError):
            rp.insert(b"\x01\x02\x03")
        self.assertGreaterEqual(lct.replay_bytes(3, (2,)), 3 * 2)
        self.assertGreater(lct.replay_bytes(100, (1, 28, 28), policy="minred"), lct.replay_bytes(100, (1, 28, 28)))

    def test_reservoir_and_f32(self):
        rp = self.keep(lct.Replay(self.rt, 4, 3, elem="f32", policy="reservoir"))
        x = array.array("f", [float(i) for i in range(3 * 50)])
        slots = rp.insert(x)
        self.assertEqual(list(slots[:4]), [0, 1, 2, 3])
        self.assertTrue(all(-1 <= s < 4 for s in slots))
        self.assertGreater(list(slots).count(-1), 20)  # most of 46 late samples are dropped
        out, ages = rp.get([0, 1, 2, 3], ages=True)
        for k in range(4):
            self.assertEqual(list(out[3 * k:3 * k + 3]), [float(3 * ages[k] + j) for j in range(3)])
        with self.assertRaises(lct.NumericError):
            rp.insert(array.array("f", [1.0, float("nan"), 2.0]))
        self.assertEqual(rp.seen, 50)

    def test_minred_bank_rows_and_novelty(self):
        bank = self.keep(lct.Bank(self.rt, 4, 3, init="zero"))
        rp = self.keep(lct.Replay(self.rt, 4, 1, policy="minred", refresh=8))
        with self.assertRaises(lct.StateError):
            rp.insert(b"\x00", embeddings=array.array("f", [1, 0, 0]))  # no bank bound yet
        rp.bind_bank(bank)
        rows = [unit([1, 0, 0]), unit([0, 1, 0]), unit([0, 0, 1]), unit([1, 0.05, 0])]
        rp.insert(bytes(range(4)), embeddings=array.array("f", sum(rows, [])))
        self.assertAlmostEqual(bank.get_rows(3, 1)[1], rows[3][1], places=6)
        # a new sample along (1, 1, 1): slots 0 and 3 are the closest pair, slot 0 the older
        slot = rp.insert(b"\x09", embeddings=array.array("f", unit([1, 1, 1])))
        self.assertEqual(list(slot), [0])
        rp.touch([1, 2])
        with self.assertRaises(lct.StateError):
            rp.bind_bank(bank)  # only while empty
        nv = self.keep(lct.Novelty(self.rt, bank, k=2, momentum=0.9))
        near, z0 = nv.score(array.array("f", unit([0, 1, 0.01])))
        far, z1 = nv.score(array.array("f", unit([-1, -1, -1])))
        self.assertLess(near[0], far[0])
        self.assertEqual(nv.stats[2], 2)
        scores, z = nv.score(array.array("f", unit([-1, -1, -1]) * 3), rows=2)
        self.assertEqual(len(scores), 3)
        nv.reset()
        self.assertEqual(nv.stats, (0.0, 0.0, 0))
        with self.assertRaises(lct.RangeError):
            nv.score(array.array("f", [1, 0, 0]), rows=5)
        with self.assertRaises(lct.InvalidArgumentError):
            lct.Novelty(self.rt, bank, k=0)

    def test_checkpoint_round_trip(self):
        bank = self.keep(lct.Bank(self.rt, 8, 2, init="zero"))
        rp = self.keep(lct.Replay(self.rt, 8, 2, policy="minred"))
        rp.bind_bank(bank)
        r = random.Random(3)
        for i in range(20):
            rp.insert(bytes([i, i + 1]), embeddings=array.array("f", unit([r.random() - 0.5, r.random() - 0.5])))
        nv = self.keep(lct.Novelty(self.rt, bank))
        nv.score(array.array("f", [1, 0, 0, 1]))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "stream.ckpt")
            w = lct.CheckpointWriter(self.rt)
            w.add("bank", bank).add("replay", rp).add("novelty", nv).write(path)
            w.close()
            bank2 = self.keep(lct.Bank(self.rt, 8, 2, init="zero"))
            rp2 = self.keep(lct.Replay(self.rt, 8, 2, policy="minred"))
            rp2.bind_bank(bank2)
            nv2 = self.keep(lct.Novelty(self.rt, bank2))
            with lct.Checkpoint(self.rt, path) as ck:
                ck.load("bank", bank2)
                ck.load("replay", rp2)
                ck.load("novelty", nv2)
                with self.assertRaises(lct.ShapeError):
                    ck.load("replay", self.keep(lct.Replay(self.rt, 9, 2, policy="minred")))
        self.assertEqual(rp.info, rp2.info)
        self.assertEqual(bytes(rp.get(list(range(8)))), bytes(rp2.get(list(range(8)))))
        self.assertEqual(nv.stats, nv2.stats)
        # the same next draws and the same next eviction
        self.assertEqual(list(rp.sample(4)[1]), list(rp2.sample(4)[1]))
        e = array.array("f", unit([0.3, -0.7]))
        self.assertEqual(list(rp.insert(b"\x01\x02", embeddings=e)), list(rp2.insert(b"\x01\x02", embeddings=e)))

    def test_costs(self):
        enc = self.keep(lct.Encoder(self.rt, spec="in 10; linear 20; relu; linear 5"))
        fwd, bwd, ws = enc.cost(8)
        self.assertEqual(fwd, 8 * (400 + 20 + 20 + 200 + 5))
        self.assertEqual(bwd, 8 * (420 + 20 + 405))
        self.assertEqual(ws, enc.workspace_bytes(8))
        bank = self.keep(lct.Bank(self.rt, 100, 8))
        loss = self.keep(lct.NonParametricSoftmax(self.rt, bank))
        flops, ws = loss.cost(4)
        self.assertEqual(flops, 4 * 100 * (4 * 8 + 10))
        self.assertEqual(ws, loss.workspace_bytes(4))
        with self.assertRaises(lct.InvalidArgumentError):
            enc.cost(0)

    @unittest.skipIf(numpy is None, "NumPy is not installed")
    def test_numpy_buffers(self):
        rp = self.keep(lct.Replay(self.rt, 5, (1, 2, 2)))
        imgs = numpy.arange(12, dtype=numpy.uint8).reshape(3, 1, 2, 2)
        slots = rp.insert(imgs)
        self.assertEqual(slots.dtype, numpy.int64)
        out, drawn = rp.sample(3, like=imgs)
        self.assertEqual(out.shape, (3, 4))
        for i, s in enumerate(drawn):
            self.assertTrue((out[i] == imgs[s].reshape(-1)).all())


if __name__ == "__main__":
    unittest.main()
