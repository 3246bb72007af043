"""Runtime, errors, buffers, GEMM and lifetimes of the ctypes binding."""
import array
import ctypes
import gc
import os
import re
import unittest

import libcontrast as lct
from libcontrast import _lib

from helpers import numpy, rss_kib


class TestRuntime(unittest.TestCase):
    def test_version_matches_binding(self):
        self.assertEqual(lct.version_number() // 1000000, lct.BINDING_MAJOR)
        major, minor, patch = map(int, lct.version().split("."))
        self.assertEqual(lct.version_number(), major * 1000000 + minor * 1000 + patch)

    def test_properties(self):
        with lct.Runtime(threads=2, seed=9) as rt:
            self.assertEqual(rt.threads, 2)
            self.assertEqual(rt.seed, 9)
            self.assertEqual(_lib.lib.lct_runtime_seed(rt.ptr), 9)  # the C getter without a status
            self.assertEqual(lct.Runtime(seed=0).seed, 0)  # a seed of 0 reads as one
            name, source = rt.kernel
            self.assertTrue(name)
            self.assertIn(source, ("auto", "env", "blis"))
            rt.threads = 1
            self.assertEqual(rt.threads, 1)
            self.assertEqual(rt.memory, (0, 0))
        self.assertTrue(rt.closed)
        with self.assertRaises(lct.StateError):
            rt.threads

    def test_scheduler_table(self):
        # the table a host fills to hand the runtime its job system (the Runtime wrapper uses its own pool)
        s = _lib.Scheduler()
        self.assertEqual(_lib.lib.lct_scheduler_init(ctypes.byref(s), 1), 0)
        self.assertEqual((s.version, s.workers, bool(s.run)), (1, 1, False))
        self.assertEqual(_lib.lib.lct_scheduler_init(ctypes.byref(s), 2), -7)

    def test_errors_carry_code_and_message(self):
        with self.assertRaises(lct.InvalidArgumentError) as cm:
            lct.Runtime(threads=0)
        self.assertEqual(cm.exception.status, -1)
        self.assertIn("threads is 0", cm.exception.message)
        self.assertIsInstance(cm.exception, ValueError)
        rt = lct.Runtime()
        with self.assertRaises(lct.InvalidArgumentError) as cm:
            rt.threads = 1000
        self.assertIn("1000", str(cm.exception))
        self.assertEqual(lct.status_string(-3), "shape mismatch")
        self.assertIn("1000", lct.error_last())
        lct.error_clear()
        self.assertEqual(lct.error_last(), "")

    def test_log_callback(self):
        seen = []
        rt = lct.Runtime(log=lambda level, msg: seen.append((level, msg)), log_level=lct.LOG_INFO)
        self.assertTrue(any("BLIS kernels" in m for _, m in seen))
        rt.close()

    def test_create_free_cycles_do_not_leak(self):
        for _ in range(500):
            lct.Runtime().close()
        gc.collect()
        before = rss_kib()
        for _ in range(10000):
            rt = lct.Runtime(seed=1)
            rt.gemm(array.array("f", [1.0]), array.array("f", [2.0]), 1, 1, 1)
            rt.close()
        gc.collect()
        grown = rss_kib() - before
        self.assertLess(grown, 2048, "RSS grew by %d KiB over 10,000 create/free cycles" % grown)


class TestStatusTable(unittest.TestCase):
    """The binding's codes and exceptions against LCT_STATUS_MAP, the C table of include/libcontrast/common.h."""

    @staticmethod
    def c_table():
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(os.path.join(root, "include", "libcontrast", "common.h")) as f:
            text = f.read()
        body = text[text.index("#define LCT_STATUS_MAP(X)"):]
        body = body[:body.index("\n\n")]
        return [(name, int(value), message)
                for name, value, message in re.findall(r'X\((\w+), (-?\d+), "([^"]*)"\)', body)]

    def test_python_codes_match_the_c_table(self):
        table = self.c_table()
        self.assertGreaterEqual(len(table), 15)
        self.assertEqual(table[0], ("OK", 0, "success"))
        self.assertIn(("ENOTFOUND", -14, "not found"), table)
        codes = {name: getattr(lct._errors, name, None) for name, _, _ in table}
        self.assertEqual(codes, {name: value for name, value, _ in table})
        for name, value, message in table:
            self.assertEqual(lct.status_string(value), message, name)
            if value:
                self.assertIn(value, lct._errors._CLASSES, name)
        # nothing in the binding that the C table lacks
        extra = [n for n in dir(lct._errors) if re.fullmatch(r"E[A-Z]+", n) and n not in codes]
        self.assertEqual(extra, [])
        self.assertEqual(sorted(lct._errors._CLASSES), sorted(v for _, v, _ in table if v))
        self.assertEqual(lct.status_string(table[-1][1] - 1), "unknown status")

    def test_not_found_is_a_lookup_error(self):
        self.assertTrue(issubclass(lct.NotFoundError, LookupError))
        with self.assertRaises(lct.NotFoundError) as cm:
            lct._errors.check(lct._errors.ENOTFOUND)
        self.assertEqual(cm.exception.status, -14)


class TestGemmAndBuffers(unittest.TestCase):
    def setUp(self):
        self.rt = lct.Runtime()

    def tearDown(self):
        self.rt.close()

    def reference(self, a, b, m, n, k):
        return [sum(a[i * k + p] * b[p * n + j] for p in range(k)) for i in range(m) for j in range(n)]

    def test_array_inputs_and_outputs(self):
        m, n, k = 3, 4, 5
        a = array.array("f", [(i % 7) - 3 for i in range(m * k)])
        b = array.array("f", [(i % 5) * 0.5 for i in range(k * n)])
        c = self.rt.gemm(a, b, m, n, k)
        self.assertIsInstance(c, array.array)
        for got, want in zip(c, self.reference(a, b, m, n, k)):
            self.assertAlmostEqual(got, want, places=4)

    def test_bytes_and_memoryview_inputs(self):
        a = array.array("f", [1, 2, 3, 4])
        b = array.array("f", [0, 1, 1, 0])
        c1 = self.rt.gemm(a.tobytes(), bytearray(b.tobytes()), 2, 2, 2)
        c2 = self.rt.gemm(memoryview(a), memoryview(b), 2, 2, 2)
        self.assertEqual(list(c1), [2, 1, 4, 3])
        self.assertEqual(list(c1), list(c2))

    def test_out_is_written_in_place(self):
        out = array.array("f", [9, 9, 9, 9])
        res = self.rt.gemm(array.array("f", [1, 0, 0, 1]), array.array("f", [5, 6, 7, 8]), 2, 2, 2, out=out)
        self.assertIs(res, out)
        self.assertEqual(list(out), [5, 6, 7, 8])
        with self.assertRaises(TypeError):
            self.rt.gemm(array.array("f", [1]), array.array("f", [1]), 1, 1, 1, out=b"\0\0\0\0")

    def test_bad_buffers(self):
        with self.assertRaises(TypeError):
            self.rt.gemm(array.array("d", [1.0]), array.array("f", [1.0]), 1, 1, 1)
        with self.assertRaises(TypeError):
            self.rt.gemm([1.0], array.array("f", [1.0]), 1, 1, 1)
        with self.assertRaises(ValueError):
            self.rt.gemm(array.array("f", [1.0, 2.0]), array.array("f", [1.0]), 1, 1, 1)
        with self.assertRaises(ValueError):
            self.rt.gemm(b"\0\0\0", array.array("f", [1.0]), 1, 1, 1)

    def test_library_errors_surface(self):
        a = array.array("f", [float("nan")])
        with self.assertRaises(lct.InvalidArgumentError) as cm:
            self.rt.gemm(a, a, 1, 1, 1, alpha=float("nan"))
        self.assertIn("alpha", cm.exception.message)

    @unittest.skipIf(numpy is None, "NumPy is not installed for this interpreter")
    def test_numpy_in_numpy_out(self):
        a = numpy.arange(12, dtype=numpy.float32).reshape(3, 4)
        b = numpy.ones((4, 2), dtype=numpy.float32)
        c = self.rt.gemm(a, b, 3, 2, 4)
        self.assertIsInstance(c, numpy.ndarray)
        self.assertEqual(c.shape, (3, 2))
        numpy.testing.assert_allclose(c, a @ b, rtol=1e-6)
        with self.assertRaises(ValueError):
            self.rt.gemm(numpy.asfortranarray(numpy.ones((3, 4), numpy.float32)), b, 3, 2, 4)
        with self.assertRaises(TypeError):
            self.rt.gemm(a.astype(numpy.float64), b, 3, 2, 4)


class TestLifetimes(unittest.TestCase):
    def test_borrowed_runtime_outlives_child(self):
        rt = lct.Runtime()
        child = lct.Handle(0x1, borrows=(rt,))  # a stand-in dependant holding no C object
        with self.assertRaises(lct.StateError):
            rt.close()
        child._release()
        rt.close()
        self.assertTrue(rt.closed)

    def test_dropping_runtime_reference_first_is_safe(self):
        rt = lct.Runtime()
        child = lct.Handle(0x1, borrows=(rt,))
        del rt
        gc.collect()
        self.assertFalse(child._borrows[0].closed)
        child._release()


if __name__ == "__main__":
    unittest.main()
