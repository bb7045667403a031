#!/usr/bin/python3
"""Sum the results of every test run by tests/run.sh into one closing line,
"N passed, N failed": cmocka cases from the meson test logs, pytest cases
from the JUnit files, and one result per fuzz target or build check.
Exits non-zero when anything failed or when nothing ran at all."""
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

out = Path(sys.argv[1])
passed = failed = 0
lines = []

for log in sorted(out.glob("unit-*.testlog")):
    # meson's log holds one block per executable: "test: NAME", its
    # output, "result: exit status N".  cmocka prints its own counts; an
    # executable that died before its summary counts as one failure.
    text = log.read_text(errors="replace")
    blocks = re.split(r"^=+ \d+/\d+ =+$", text, flags=re.M)[1:]
    for b in blocks:
        name = re.search(r"^test:\s+(\S+)", b, re.M)
        result = re.search(r"^result:\s+(.*)$", b, re.M)
        p = sum(int(n) for n in re.findall(r"\[  PASSED  \] (\d+) test", b))
        f = sum(int(n) for n in re.findall(r"\[  FAILED  \] (\d+) test", b))
        ok = result is not None and result.group(1).strip() == "exit status 0"
        if not ok and f == 0:
            f = 1
        if ok and p == 0:
            p = 1
        lines.append(f"{log.stem} {name.group(1) if name else '?'}: "
                     f"{p} passed, {f} failed (cmocka)")
        passed += p
        failed += f
for xml in sorted(out.glob("integration-*.xml")):
    root = ET.parse(xml).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    t = sum(int(s.get("tests", 0)) for s in suites)
    f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    s = sum(int(s.get("skipped", 0)) for s in suites)
    # a skipped test is not a pass: count it as a failure
    lines.append(f"{xml.stem}: {t - f - s} passed, {f + s} failed "
                 f"({s} skipped) (pytest)")
    passed += t - f - s
    failed += f + s
for name in ("normal", "normal-timing", "asan-pg", "asan-pg-timing",
             "asan-sqlite-file", "pgcluster"):
    if (out / f"integration-{name}.log").exists() and \
            not (out / f"integration-{name}.xml").exists():
        lines.append(f"integration-{name}: no result file")
        failed += 1

extra = out / "extra.txt"
if extra.exists():
    for line in extra.read_text().splitlines():
        lines.append(line)
        if line.endswith("passed"):
            passed += 1
        else:
            failed += 1

print()
for line in lines:
    print(line)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or passed == 0 else 0)
