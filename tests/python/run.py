"""Run the binding's unittest modules and end with "N passed, N failed[, N skipped]"."""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(here)), "python"))

suite = unittest.defaultTestLoader.discover(here, pattern="test_*.py")
result = unittest.TextTestRunner(verbosity=1).run(suite)
failed = len(result.failures) + len(result.errors)
skipped = len(result.skipped)
passed = result.testsRun - failed - skipped
try:
    import numpy  # noqa: F401
    flavour = "with NumPy"
except ImportError:
    flavour = "standard library only"
print("python %s (%s): %d passed, %d failed, %d skipped" % (sys.version.split()[0], flavour, passed, failed, skipped))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
