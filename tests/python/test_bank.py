"""The memory bank and kNN through ctypes, against plain-Python references."""
import array
import math
import random
import unittest

import libcontrast as lct

from helpers import HandleTest, numpy, rand_floats


def dot(a, b):
    return sum(p * q for p, q in zip(a, b))


def normalise(v):
    s = math.sqrt(dot(v, v))
    return [x / s for x in v] if s > 0 else [0.0] * len(v)


class TestBank(HandleTest):
    RUNTIME = dict(threads=2, seed=8)

    def bank(self, *a, **kw):
        return self.keep(lct.Bank(self.rt, *a, **kw))

    def test_rows_gather_and_info(self):
        n, d = 10, 4
        b = self.bank(n, d, normalize=True)
        self.assertEqual(b.info, (n, d, 0))
        self.assertEqual(len(b), n)
        rows = b.get_rows()
        for i in range(n):
            self.assertAlmostEqual(dot(rows[i * d:(i + 1) * d], rows[i * d:(i + 1) * d]), 1.0, places=5)
        new = rand_floats(2 * d, 1)
        b.set_rows(3, new)
        self.assertEqual(list(b.get_rows(3, 2)), list(new))
        g = b.gather([4, 3, 3])
        self.assertEqual(list(g), list(new[d:]) + list(new[:d]) + list(new[:d]))
        self.assertGreaterEqual(lct.bank_bytes(n, d), n * d * 4)
        h = self.bank(n, d, storage="fp16", init="zero")
        self.assertEqual(h.info[2], 1)
        self.assertEqual(set(h.get_rows()), {0.0})

    def test_host_buffer(self):
        n, d = 4, 3
        host = array.array("f", [float(i) for i in range(n * d)])
        b = self.bank(n, d, init="keep", buffer=host)
        self.assertEqual(list(b.get_rows()), list(host))
        b.set_rows(0, array.array("f", [9.0, 9.0, 9.0]))
        self.assertEqual(list(host[:3]), [9.0, 9.0, 9.0])
        with self.assertRaises(TypeError):
            lct.Bank(self.rt, n, d, init="keep", buffer=bytes(48))
        with self.assertRaises(lct.ShapeError):
            lct.Bank(self.rt, n, d, init="keep", buffer=array.array("f", [0.0] * 11))

    def test_sampling_and_similarity(self):
        n, d, batch, k = 20, 5, 3, 6
        b = self.bank(n, d)
        self_idx = [0, 7, 19]
        neg = b.sample(batch, k, "exclude_self", self_idx=self_idx)
        self.assertEqual(len(neg), batch * k)
        for i in range(batch):
            self.assertTrue(all(0 <= v < n and v != self_idx[i] for v in neg[i * k:(i + 1) * k]))
        shared = b.sample(batch, k, "shared")
        self.assertEqual(len(shared), k)
        f = rand_floats(batch * d, 2)
        rows = b.get_rows()
        sim = b.similarity(f, self_idx, neg, k)
        for i in range(batch):
            fi = f[i * d:(i + 1) * d]
            self.assertAlmostEqual(sim[i * (k + 1)], dot(fi, rows[self_idx[i] * d:(self_idx[i] + 1) * d]), places=5)
            for j in range(k):
                r = neg[i * k + j]
                self.assertAlmostEqual(sim[i * (k + 1) + 1 + j], dot(fi, rows[r * d:(r + 1) * d]), places=5)
        sim = b.similarity(f, self_idx, shared, k, mode="shared")
        self.assertAlmostEqual(sim[(k + 1) + 1 + 1], dot(f[d:2 * d], rows[shared[1] * d:(shared[1] + 1) * d]), places=5)
        full = b.similarity_all(f, 2, 5)
        self.assertAlmostEqual(full[5 + 3], dot(f[d:2 * d], rows[5 * d:6 * d]), places=5)
        with lct.Runtime(threads=1, seed=8) as rt1:
            b1 = lct.Bank(rt1, n, d)
            self.assertEqual(list(b1.sample(batch, k, "exclude_self", self_idx=self_idx)), list(neg))
            b1.close()

    def test_updates_and_proximal(self):
        n, d = 6, 3
        b = self.bank(n, d)
        f = rand_floats(2 * d, 3)
        rows = b.get_rows()
        b.update(f, [1, 4], 0.5)
        got = b.get_rows()
        for r, i in ((1, 0), (4, 1)):
            want = normalise([0.5 * rows[r * d + j] + 0.5 * f[i * d + j] for j in range(d)])
            for j in range(d):
                self.assertAlmostEqual(got[r * d + j], want[j], places=5)
        rows = got
        b.update_ex(f, [2, 2], rule="proximal", lambda_=3.0, normalize=False)
        m = 3.0 / 4.0
        v = list(rows[2 * d:3 * d])
        for i in range(2):
            v = [m * v[j] + (1 - m) * f[i * d + j] for j in range(d)]
        for j in range(d):
            self.assertAlmostEqual(b.get_rows(2, 1)[j], v[j], places=5)
        rows = b.get_rows()
        grad = array.array("f", [1.0] * (2 * d))
        pen = b.proximal(f, [0, 5], 0.25, grad=grad)
        ref = 0.0
        for i, r in enumerate((0, 5)):
            for j in range(d):
                diff = f[i * d + j] - rows[r * d + j]
                ref += 0.25 * diff * diff
                self.assertAlmostEqual(grad[i * d + j], 1.0 + 0.5 * diff, places=5)
        self.assertAlmostEqual(pen, ref, places=5)

    def test_knn(self):
        n, d, q = 30, 4, 5
        feats = array.array("f")
        for i in range(n):
            feats.extend(normalise(list(rand_floats(d, 100 + i))))
        labels = array.array("i", [i % 3 for i in range(n)])
        queries = array.array("f")
        for i in range(q):
            queries.extend(normalise(list(rand_floats(d, 200 + i))))
        k, tau = 7, 0.5
        idx, sim = lct.knn_topk(self.rt, feats, d, queries, k)
        pred, scores = lct.knn_classify(self.rt, feats, labels, d, queries, k=k, tau=tau, scores=True)
        for i in range(q):
            s = sorted(((dot(queries[i * d:(i + 1) * d], feats[j * d:(j + 1) * d]), j) for j in range(n)),
                       key=lambda t: (-t[0], t[1]))[:k]
            self.assertEqual(list(idx[i * k:(i + 1) * k]), [j for _, j in s])
            for (v, _), got in zip(s, sim[i * k:(i + 1) * k]):
                self.assertAlmostEqual(got, v, places=5)
            votes = [0.0] * 3
            for v, j in s:
                votes[labels[j]] += math.exp((v - s[0][0]) / tau)
            self.assertEqual(pred[i], max(range(3), key=lambda c: (votes[c], -c)))
            for c in range(3):
                self.assertAlmostEqual(scores[i * 3 + c], votes[c], places=4)
        b = self.bank(n, d, init="keep", buffer=array.array("f", feats))
        bidx, bsim = b.topk(queries, k)
        self.assertEqual(list(bidx), list(idx))
        self.assertEqual(list(b.classify(labels, queries, k=k, tau=tau)), list(pred))

    def test_errors(self):
        with self.assertRaises(lct.InvalidArgumentError) as cm:
            lct.Bank(self.rt, 0, 4)
        self.assertIn("n", cm.exception.message)
        with self.assertRaises(ValueError):
            lct.Bank(self.rt, 4, 4, storage="fp8")
        b = self.bank(4, 2)
        with self.assertRaises(lct.RangeError):
            b.get_rows(3, 2)
        with self.assertRaises(lct.RangeError):
            b.gather([4])
        with self.assertRaises(lct.NumericError):
            b.set_rows(0, array.array("f", [float("nan"), 0.0]))
        with self.assertRaises(lct.InvalidArgumentError):
            b.update(array.array("f", [1.0, 0.0]), [0], momentum=1.5)
        with self.assertRaises(lct.InvalidArgumentError):
            b.sample(2, 3, "exclude_self")
        with self.assertRaises(lct.InvalidArgumentError):
            lct.knn_topk(self.rt, array.array("f", [1.0, 0.0]), 2, array.array("f", [1.0, 0.0]), 2)
        with self.assertRaises(lct.InvalidArgumentError):
            lct.knn_classify(self.rt, array.array("f", [1.0, 0.0]), [5], 2, array.array("f", [1.0, 0.0]), k=1,
                             n_classes=3)
        with self.assertRaises(lct.InvalidArgumentError):
            lct.bank_bytes(0, 1)

    @unittest.skipIf(numpy is None, "NumPy is not installed for this interpreter")
    def test_numpy_in_numpy_out(self):
        b = self.bank(8, 4)
        f = numpy.random.default_rng(2).standard_normal((3, 4)).astype(numpy.float32)
        idx = numpy.array([1, 2, 7], dtype=numpy.int64)
        neg = b.sample(3, 5, self_idx=idx)
        self.assertEqual((neg.shape, neg.dtype), ((3, 5), numpy.int64))
        sim = b.similarity(f, idx, neg, 5)
        self.assertEqual(sim.shape, (3, 6))
        rows = b.get_rows(like=f)
        numpy.testing.assert_allclose(sim[:, 0], (f * rows[idx]).sum(axis=1), rtol=1e-5)
        ti, ts = b.topk(f, 2)
        self.assertEqual(ti.shape, (3, 2))
        pred = b.classify(numpy.arange(8, dtype=numpy.int32) % 2, f, k=3)
        self.assertEqual(pred.dtype, numpy.int32)
        with self.assertRaises(TypeError):
            b.update(f, idx.astype(numpy.float64))


if __name__ == "__main__":
    unittest.main()
