"""The loss objects through ctypes: values against plain-Python references, gradients, errors."""
import array
import math
import random
import unittest

import libcontrast as lct

from helpers import HandleTest, numpy, rand_floats


def ref_invaspread(x, b, d, tau, self_term):
    n = 2 * b
    rows = [x[i * d:(i + 1) * d] for i in range(n)]
    total = 0.0
    for i in range(n):
        pos = (i + b) % n
        e = [math.exp(sum(p * q for p, q in zip(rows[i], rows[k])) / tau) for k in range(n)]
        den = sum(e[k] for k in range(n) if k != i or self_term)
        loss = -math.log(e[pos] / den)
        for k in range(n):
            if k != i and k != pos:
                loss -= math.log(1 - e[k] / den)
        total += loss
    return total / n


def ref_cmc_softmax(views, b, d, tau):
    total = 0.0
    for a in range(len(views)):
        for c in range(a + 1, len(views)):
            if a != 0:
                continue
            for fa, fb in ((views[a], views[c]), (views[c], views[a])):
                for i in range(b):
                    s = [sum(fa[i * d + e] * fb[j * d + e] for e in range(d)) / tau for j in range(b)]
                    total += (math.log(sum(math.exp(v) for v in s)) - s[i]) / b
    return total


def Bank(rt, n, d):
    return lct.Bank(rt, n, d)


def bank_rows(bank):
    return list(bank.get_rows())


class TestLoss(HandleTest):
    RUNTIME = dict(threads=2, seed=5)

    def test_invaspread_value_and_finite_difference(self):
        b, d = 3, 4
        for form, self_term in (("paper", True), ("code", False)):
            loss = self.keep(lct.InvaSpread(self.rt, d, form=form, temperature=0.5))
            self.assertAlmostEqual(loss.temperature, 0.5)
            self.assertEqual(loss.kind, 3)
            x = rand_floats(2 * b * d, 1)
            value, dx = loss.compute(x)
            self.assertEqual(len(dx), 2 * b * d)
            self.assertAlmostEqual(value, ref_invaspread(list(x), b, d, 0.5, self_term), places=5)
            if form == "paper":
                xs = list(x)
                for i in (0, 5, 17):
                    h = 1e-3
                    up, dn = xs[:], xs[:]
                    up[i] += h
                    dn[i] -= h
                    fd = (ref_invaspread(up, b, d, 0.5, True) - ref_invaspread(dn, b, d, 0.5, True)) / (2 * h)
                    self.assertAlmostEqual(dx[i], fd, places=3)

    def test_infonce_shapes_params_and_accumulation(self):
        b, t, d, h = 2, 5, 3, 2
        loss = self.keep(lct.InfoNCE(self.rt, t, d, h, steps=2, negatives="sequence"))
        self.assertEqual(len(loss.params), 2)
        self.assertEqual(loss.params.names(), ["infonce.w1", "infonce.w2"])
        z, c = rand_floats(b * t * d, 2), rand_floats(b * t * h, 3)
        value, dz, dc, acc = loss.compute(z, c)
        self.assertTrue(math.isfinite(value))
        self.assertEqual((len(dz), len(dc), len(acc)), (b * t * d, b * t * h, 2))
        self.assertTrue(all(0.0 <= a <= 1.0 for a in acc))
        g1 = loss.params.grad(0)
        self.assertTrue(any(v != 0.0 for v in g1))
        loss.compute(z, c)  # W_k gradients accumulate
        g2 = loss.params.grad(0)
        for u, v in zip(g1, g2):
            self.assertAlmostEqual(v, 2 * u, places=5)
        loss.params.zero_grad()
        self.assertTrue(all(v == 0.0 for v in loss.params.grad(1)))

    def test_cmc_softmax_value(self):
        b, d = 4, 3
        loss = self.keep(lct.CMC(self.rt, 3, d, temperature=0.2))
        views = [rand_floats(b * d, 10 + v) for v in range(3)]
        value, df = loss.compute(views)
        self.assertEqual(len(df), 3)
        self.assertAlmostEqual(value, ref_cmc_softmax([list(v) for v in views], b, d, 0.2), places=4)

    def test_errors_name_the_argument(self):
        loss = self.keep(lct.InvaSpread(self.rt, 2))
        with self.assertRaises(lct.RangeError):
            loss.temperature = 0.0
        lo, hi = loss.param_bounds(lct._loss.TEMPERATURE)
        self.assertTrue(0 < lo < 1 < hi)
        x = array.array("f", [0.1, 0.2, float("nan"), 0.4, 0.5, 0.6, 0.7, 0.8])
        with self.assertRaises(lct.NumericError) as cm:
            loss.compute(x)
        self.assertIn("x[2] is NaN", str(cm.exception))
        with self.assertRaises(ValueError):
            loss.compute(array.array("f", [0.0] * 6))  # three embeddings: not two views each
        with self.assertRaises(lct.InvalidArgumentError):
            loss.log_z()
        with self.assertRaises(ValueError):
            lct.InfoNCE(self.rt, 5, 3, 2, steps=2, negatives="nope")

    def test_bank_objectives(self):
        n, d, b = 12, 3, 4
        bank = Bank(self.rt, n, d)
        f = rand_floats(b * d, 7)
        idx = [0, 11, 5, 5]
        nce = lct.NCE(self.rt, bank, k=6, temperature=0.5)
        self.assertIsNone(nce.log_z())
        value, df = nce.compute(f, idx)
        self.assertTrue(math.isfinite(value) and len(df) == b * d)
        log_z = nce.log_z()
        self.assertIsNotNone(log_z)
        self.assertGreater(nce.workspace_bytes(b), 0)
        nce.reset_z()
        self.assertIsNone(nce.log_z())
        nce.set_log_z(log_z)
        self.assertEqual(nce.log_z(), log_z)
        value2, df2, dpos = nce.compute(f, idx, pos=rand_floats(b * d, 8))
        self.assertTrue(math.isfinite(value2) and len(dpos) == b * d)
        sm = lct.NonParametricSoftmax(self.rt, bank, chunk=5, temperature=0.5)
        value, df = sm.compute(f, idx)
        rows = bank_rows(bank)
        ref = 0.0
        for i in range(b):
            s = [sum(f[i * d + e] * rows[j * d + e] for e in range(d)) / 0.5 for j in range(n)]
            ref += (math.log(sum(math.exp(v) for v in s)) - s[idx[i]]) / b
        self.assertAlmostEqual(value, ref, places=4)
        bank2 = Bank(self.rt, n, d)
        cmc = lct.CMC(self.rt, 2, d, banks=[bank, bank2], k=5)
        value, dfs = cmc.compute([f, rand_floats(b * d, 9)], idx)
        self.assertTrue(math.isfinite(value) and len(dfs) == 2)
        self.assertIsNotNone(cmc.log_z(1))
        with self.assertRaises(lct.StateError):
            bank.close()  # still borrowed by the losses
        for h in (nce, sm, cmc, bank, bank2):
            h.close()

    @unittest.skipIf(numpy is None, "NumPy is not installed")
    def test_numpy_in_numpy_out(self):
        loss = self.keep(lct.InvaSpread(self.rt, 4))
        x = numpy.random.default_rng(0).standard_normal((6, 4)).astype(numpy.float32)
        value, dx = loss.compute(x)
        self.assertEqual(dx.shape, (6, 4))
        self.assertAlmostEqual(value, ref_invaspread(x.ravel().tolist(), 3, 4, 0.1, True), places=3)


if __name__ == "__main__":
    unittest.main()
