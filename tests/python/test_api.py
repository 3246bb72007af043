"""Every function exported by lib/libcontrast.map has a ctypes prototype in the binding."""
import os
import re
import unittest

import libcontrast as lct  # noqa: F401  (imports every module, so every prototype is declared)
from libcontrast import _lib

ROOT = os.environ.get("LCT_SOURCE_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


def exported_names():
    with open(os.path.join(ROOT, "lib", "libcontrast.map")) as fh:
        text = re.sub(r"/\*.*?\*/", "", fh.read(), flags=re.S)
    names = []
    for node in re.findall(r"\{(.*?)\}", text, flags=re.S):  # one node per release
        body = node.split("global:", 1)[-1].split("local:", 1)[0]
        names += [t.strip() for t in body.split(";") if t.strip()]
    return names


class TestApiCoverage(unittest.TestCase):
    def test_every_exported_function_has_a_prototype(self):
        names = exported_names()
        self.assertGreater(len(names), 150)
        missing = [n for n in names if n not in _lib.DECLARED]
        self.assertEqual(missing, [], "exported but not wrapped: %s" % ", ".join(missing))
        for n in names:
            fn = getattr(_lib.lib, n)
            fn = getattr(fn, "__wrapped__", fn)  # run.py counts the calls through a wrapper
            self.assertEqual(fn.argtypes, _lib.DECLARED[n][1], n)
            self.assertEqual(fn.restype, _lib.DECLARED[n][0], n)

    def test_no_prototype_for_a_function_the_map_does_not_export(self):
        extra = sorted(set(_lib.DECLARED) - set(exported_names()))
        self.assertEqual(extra, [])


if __name__ == "__main__":
    unittest.main()
