"""Sum up meson test logs (testlog.json files given as arguments; scripts/arm64.sh also writes its
build's result as one such line: name, result, stdout).

A Check suite counts each of its test cases; a test printing "N passed, N failed" counts
those; any other test counts once. A test that crashed or timed out after printing a clean
summary still counts as one failure.
"""
import json
import re
import sys

CHECK = re.compile(r"\d+%: Checks: (\d+), Failures: (\d+), Errors: (\d+)")
PLAIN = re.compile(r"^(?:\w+: )?(\d+) passed, (\d+) failed", re.M)


def count(test):
    """(passed, failed, skipped) of one test entry."""
    out = test.get("stdout") or ""
    ok = test.get("result") == "OK"
    if test.get("result") == "SKIP":
        return 0, 0, 1
    m = CHECK.search(out)
    if m:
        n, f, e = map(int, m.groups())
        p, fl = n - f - e, f + e
    else:
        plain = PLAIN.findall(out)
        if not plain:
            return (1, 0, 0) if ok else (0, 1, 0)
        p, fl = int(plain[-1][0]), int(plain[-1][1])
    if not ok and fl == 0:
        fl = 1
    return p, fl, 0


def main(paths):
    passed = failed = skipped = 0
    for path in paths:
        with open(path, encoding="utf-8") as log:
            for line in log:
                p, f, s = count(json.loads(line))
                passed, failed, skipped = passed + p, failed + f, skipped + s
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
