"""Sum up a meson test log: Check suites count each test case, other tests count once."""
import json
import re
import sys

CHECK = re.compile(r"\d+%: Checks: (\d+), Failures: (\d+), Errors: (\d+)")
PLAIN = re.compile(r"^(?:\w+: )?(\d+) passed, (\d+) failed", re.M)

passed = failed = skipped = 0
with open(sys.argv[1], encoding="utf-8") as log:
    for line in log:
        t = json.loads(line)
        out = t.get("stdout") or ""
        result = t.get("result")
        if result == "SKIP":
            skipped += 1
            continue
        m = CHECK.search(out) or None
        p = PLAIN.findall(out)
        if m:
            n, f, e = map(int, m.groups())
            passed += n - f - e
            failed += f + e
            if result != "OK" and f + e == 0:
                failed += 1  # crashed or timed out after its summary
        elif p:
            passed += int(p[-1][0])
            failed += int(p[-1][1])
            if result != "OK" and int(p[-1][1]) == 0:
                failed += 1
        elif result == "OK":
            passed += 1
        else:
            failed += 1
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
