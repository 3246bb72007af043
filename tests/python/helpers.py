"""What the binding's test modules share: NumPy when installed, random data, and a test case that owns
a runtime and closes the handles its tests keep."""
import array
import os
import random
import unittest

import libcontrast as lct

try:
    import numpy
except ImportError:
    numpy = None


def rand_floats(n, seed, scale=1.0):
    r = random.Random(seed)
    return array.array("f", [(2 * r.random() - 1) * scale for _ in range(n)])


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


class HandleTest(unittest.TestCase):
    """self.rt is a runtime made with RUNTIME's arguments; keep(h) closes h after the test, the handles
    in the reverse order of keeping, the runtime last."""

    RUNTIME = {}

    def setUp(self):
        self.rt = lct.Runtime(**self.RUNTIME)
        self._h = []

    def tearDown(self):
        for h in reversed(self._h):
            h.close()
        self.rt.close()

    def keep(self, h):
        self._h.append(h)
        return h
