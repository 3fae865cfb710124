#!/usr/bin/env python3
"""Print one closing line for the whole suite from meson's testlog.json: every TAP assertion of
the integration files and every doctest case counted, e.g. `cage: 212 passed, 0 failed, 4 skipped`."""
import json
import re
import sys

passed = failed = skipped = 0
with open(sys.argv[1]) as log:
    for line in log:
        test = json.loads(line)
        output = test.get("stdout") or ""
        if test.get("protocol") == "tap" or re.search(r"^(not )?ok \d", output, re.M):
            for result in re.finditer(r"^(not ok|ok)\b[^\n]*", output, re.M):
                text = result.group(0)
                if "# SKIP" in text:
                    skipped += 1
                elif text.startswith("not ok"):
                    failed += 1
                else:
                    passed += 1
            continue
        cases = re.search(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed\s*\|\s*(\d+) skipped", output)
        if cases:
            passed += int(cases.group(2))
            failed += int(cases.group(3))
            skipped += int(cases.group(4))
        elif test.get("result") == "OK":
            passed += 1
        elif test.get("result") == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"cage: {passed} passed, {failed} failed, {skipped} skipped")
