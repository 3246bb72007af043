"""Run the binding's unittest modules and end with "N passed, N failed[, N skipped]".

Every C function the binding declares is wrapped in a counter first; a function that no test
called counts as a failure, so each wrapped call has a test.
"""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(here)), "python"))

import libcontrast  # noqa: E402
from libcontrast import _lib  # noqa: E402

calls = dict.fromkeys(_lib.DECLARED, 0)


def counting(name, fn):
    def call(*args):
        calls[name] += 1
        return fn(*args)
    call.__wrapped__ = fn
    return call


originals = {}
for name in _lib.DECLARED:
    fn = getattr(_lib.lib, name)
    originals[id(fn)] = name
    setattr(_lib.lib, name, counting(name, fn))
# Handle classes hold their free function since class creation: route those through the counters too.
for obj in vars(libcontrast).values():
    free = vars(obj).get("_free") if isinstance(obj, type) else None  # where it is defined, not inherited
    free = getattr(free, "__func__", free)
    if free is not None and id(free) in originals:
        obj._free = staticmethod(getattr(_lib.lib, originals[id(free)]))

suite = unittest.defaultTestLoader.discover(here, pattern="test_*.py")
result = unittest.TextTestRunner(verbosity=1).run(suite)
failed = len(result.failures) + len(result.errors)
skipped = len(result.skipped)
passed = result.testsRun - failed - skipped
never = sorted(n for n, c in calls.items() if c == 0)
if never:
    print("FAIL: no test calls %s" % ", ".join(never))
    failed += 1
try:
    import numpy  # noqa: F401
    flavour = "with NumPy"
except ImportError:
    flavour = "standard library only"
print("python %s (%s): %d passed, %d failed, %d skipped; %d of %d C functions called" %
      (sys.version.split()[0], flavour, passed, failed, skipped, len(calls) - len(never), len(calls)))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
