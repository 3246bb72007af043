"""Checkpoints and .npy files through ctypes: round trips, groups, damaged files, errors."""
import array
import io
import os
import tempfile
import unittest

import libcontrast as lct

from helpers import HandleTest, numpy


class TestCheckpoint(HandleTest):
    RUNTIME = dict(seed=6)

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        super().setUp()

    def tearDown(self):
        super().tearDown()
        self.dir.cleanup()

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def handles(self, rt):
        enc = lct.Encoder(rt, spec="in 4; linear 3; bn; relu; linear 2; l2norm")
        bank = lct.Bank(rt, 5, 2)
        loss = lct.NCE(rt, bank, k=3)
        opt = lct.Optimizer(rt, "sgd", lr=0.1, momentum=0.9, params=[enc])
        aug = lct.Augmenter(rt, input="signal", channels=1, height=1, width=8).add_gaussian_noise(1.0, 0.1)
        return enc, bank, loss, opt, aug

    def train_step(self, enc, bank, loss, opt, aug):
        x = aug.apply(array.array("f", [0.1 * i for i in range(8)]), n_views=1)  # one signal of 8 = two inputs of 4
        f = enc.forward(x)
        value, df = loss.compute(f, [1, 3])
        opt.zero_grad()
        enc.backward(df)
        opt.step()
        bank.update(f, [1, 3])
        return value

    def test_round_trip_resumes_bit_identically(self):
        hs = [self.keep(h) for h in self.handles(self.rt)]
        self.train_step(*hs)
        w = self.keep(lct.CheckpointWriter(self.rt, level=6))
        for name, h in zip(("enc", "bank", "loss", "opt", "aug"), hs):
            w.add(name, h)
        w.add_params("extra", hs[0].params).add_meta("note", "héllo").add_counter("step", 1).add_runtime()
        w.add_blob("host", b"\x01\x02\x03")
        w.write(self.path("a.ckpt"))
        data = w.to_bytes()
        with open(self.path("a.ckpt"), "rb") as fh:
            self.assertEqual(fh.read(), data)
        after = [self.train_step(*hs) for _ in range(2)]
        rows_after = list(hs[1].get_rows())

        with lct.Runtime(seed=6) as rt2:
            hs2 = self.handles(rt2)
            for src in ({"path": self.path("a.ckpt")}, {"data": data}, {"stream": io.BytesIO(data)}):
                r = lct.Checkpoint(rt2, **src)
                self.assertEqual(r.format_version, 1)
                self.assertIn("enc", r)
                self.assertIsNone(r.find("nothing"))
                self.assertEqual(r.meta("note"), "héllo")
                self.assertEqual(r.meta_items(), [("note", "héllo")])
                self.assertEqual(r.counter("step"), 1)
                self.assertEqual(r.read_blob("host"), b"\x01\x02\x03")
                names = [s[0] for s in r.sections()]
                self.assertIn("enc.params", names)
                r.close()
            r = lct.Checkpoint(rt2, data=data)
            with r.group():
                for name, h in zip(("enc", "bank", "loss", "opt", "aug"), hs2):
                    r.load(name, h)
                r.load_params("extra", hs2[0].params)
            r.load_runtime(rt2)
            again = [self.train_step(*hs2) for _ in range(2)]
            self.assertEqual(again, after)
            self.assertEqual(list(hs2[1].get_rows()), rows_after)
            enc3 = r.new_encoder("enc")
            bank3 = r.new_bank("bank")
            self.assertEqual(enc3.spec, hs2[0].spec)
            self.assertEqual(bank3.info, (5, 2, 0))
            r.close()
            # the adopted handles hold the runtime: closing it first is refused
            with self.assertRaises(lct.StateError):
                rt2.close()
            for h in (enc3, bank3) + tuple(reversed(hs2)):
                h.close()

    def test_group_rollback_and_errors(self):
        enc = self.keep(lct.Encoder(self.rt, spec="in 3; linear 2"))
        other = self.keep(lct.Encoder(self.rt, spec="in 3; linear 4"))
        w = self.keep(lct.CheckpointWriter(self.rt))
        w.add("enc", enc)
        data = w.to_bytes()
        r = self.keep(lct.Checkpoint(self.rt, data=data))
        before = list(enc.params.get(0))
        enc.params.set(0, array.array("f", [0.0] * 6))
        r.begin()
        r.load("enc", enc)
        with self.assertRaises(lct.ShapeError):
            r.load("enc", other)
        with self.assertRaises(lct.ShapeError):
            r.commit()  # one load failed: none applies
        self.assertEqual(list(enc.params.get(0)), [0.0] * 6)
        r.begin()
        r.load("enc", enc)
        r.rollback()
        self.assertEqual(list(enc.params.get(0)), [0.0] * 6)
        r.load("enc", enc)
        self.assertEqual(list(enc.params.get(0)), before)
        with self.assertRaises(lct.StateError):
            r.commit()
        with self.assertRaises(lct.NotFoundError):
            r.load("missing", enc)
        with self.assertRaises(lct.NotFoundError):
            r.counter("missing")
        with self.assertRaises(lct.InvalidArgumentError):
            w.add_meta("", "x")
        with self.assertRaises(lct.InvalidArgumentError):
            w.add_blob("b", b"x", type=5)
        with self.assertRaises(lct.InvalidArgumentError):
            lct.CheckpointWriter(self.rt, level=12)
        with self.assertRaises(TypeError):
            w.add("x", object())
        bad = bytearray(data)
        bad[len(bad) // 2] ^= 0xFF
        with self.assertRaises((lct.ChecksumError, lct.FormatError)):
            lct.Checkpoint(self.rt, data=bytes(bad))
        with self.assertRaises(lct.FormatError):
            lct.Checkpoint(self.rt, data=data[:10])
        with self.assertRaises(lct.LctIOError):
            lct.Checkpoint(self.rt, path=self.path("absent.ckpt"))
        with self.assertRaises(lct.LctIOError):
            w.write(self.path("no/such/folder/x.ckpt"))
        with self.assertRaises(TypeError):
            lct.Checkpoint(self.rt)

    def test_npy(self):
        p = self.path("m.npy")
        data = array.array("f", [0.5 * i for i in range(6)])
        lct.npy_write(p, data, 2, 3)
        self.assertEqual(lct.npy_info(p), (2, 3, 2))
        self.assertEqual(list(lct.npy_read(p)), list(data))
        out, rows, cols = lct.npy_read_alloc(self.rt, p)
        self.assertEqual((list(out), rows, cols), (list(data), 2, 3))
        self.assertEqual(self.rt.memory[0], 0)
        v = self.path("v.npy")
        lct.npy_write(v, data)
        self.assertEqual(lct.npy_info(v), (6, 1, 1))
        with self.assertRaises(lct.ShapeError):
            lct.npy_read(v, shape=(5, 1))
        with open(self.path("junk.npy"), "wb") as fh:
            fh.write(b"not a numpy file at all")
        with self.assertRaises(lct.FormatError):
            lct.npy_info(self.path("junk.npy"))
        with self.assertRaises(lct.LctIOError):
            lct.npy_read(self.path("absent.npy"))
        with self.assertRaises(lct.InvalidArgumentError):
            lct.npy_write(p, array.array("f"), 0, 3)

    @unittest.skipIf(numpy is None, "NumPy is not installed for this interpreter")
    def test_npy_with_numpy(self):
        p = self.path("n.npy")
        a = numpy.arange(12, dtype=numpy.float32).reshape(3, 4)
        lct.npy_write(p, a)
        numpy.testing.assert_array_equal(numpy.load(p), a)
        numpy.save(self.path("s.npy"), a * 2)
        self.assertEqual(list(lct.npy_read(self.path("s.npy"))), list((a * 2).ravel()))


if __name__ == "__main__":
    unittest.main()
