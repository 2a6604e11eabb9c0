#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check the TAP that user/init.c prints on a guest console.

usage: tap-summary.py LABEL CONSOLE.log OUT.json
       tap-summary.py --splats CONSOLE.log
Prints "LABEL: N passed, N failed, N skipped" and exits 1 on any failure,
on a missing plan line or "guest done" line (hang, panic), or on a kernel
splat (BUG, WARNING, Oops, panic, UBSAN, KASAN) in the console log.
--splats prints the splat lines of any console log (a KUnit boot's too)
and exits 1 if there is one. SPLAT is the one definition of a splat
(scripts/kunit and robustness-report.py use it through this file).
"""
import json
import re
import sys

SPLAT = re.compile(r"(BUG:|WARNING:|Oops|Kernel panic|Call Trace:|UBSAN:|KASAN)")


def splat_lines(lines):
    return [ln for ln in lines if SPLAT.search(ln)]


def main():
    if sys.argv[1] == "--splats":
        try:
            with open(sys.argv[2], errors="replace") as f:
                found = splat_lines(f.read().splitlines())
        except OSError:
            return 0
        for ln in found:
            print(ln)
        return 1 if found else 0
    label, logf, out = sys.argv[1:4]
    with open(logf, errors="replace") as f:
        lines = f.read().splitlines()
    results, plan, done = [], None, False
    splats = splat_lines(lines)
    for ln in lines:
        m = re.match(r"^(ok|not ok) (\d+) (.*?)(?: # (.*))?$", ln)
        if m:
            status = "PASS" if m.group(1) == "ok" else "FAIL"
            note = m.group(4) or ""
            if status == "PASS" and note.startswith("SKIP"):
                status = "SKIP"
            results.append({"name": m.group(3), "status": status, "note": note})
        elif re.match(r"^1\.\.(\d+)$", ln):
            plan = int(ln[3:])
        elif ln.startswith("# guest done"):
            done = True
    passed = sum(r["status"] == "PASS" for r in results)
    failed = sum(r["status"] == "FAIL" for r in results)
    skipped = sum(r["status"] == "SKIP" for r in results)
    problems = []
    if plan is None or not done:
        problems.append("the guest did not finish (hang, panic or timeout)")
    elif plan != len(results):
        problems.append(f"plan says {plan}, {len(results)} results")
    if splats:
        problems.append(f"{len(splats)} kernel splat lines")
    with open(out, "w") as f:
        json.dump({"label": label, "results": results, "passed": passed,
                   "failed": failed, "skipped": skipped, "problems": problems,
                   "splats": splats[:50]}, f, indent=2)
    print(f"{label}: {passed} passed, {failed} failed, {skipped} skipped")
    for r in results:
        if r["status"] == "FAIL":
            print(f"  FAILED {r['name']}: {r['note']}")
    for p in problems:
        print(f"  PROBLEM {p} (console log: {logf})")
    for s in splats[:10]:
        print(f"  {s}")
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
