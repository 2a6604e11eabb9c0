#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Print a one-line summary of a kunit.py --json result file.

usage: kunit-summary.py ARCH FILE.json
       kunit-summary.py --total PREFIX-ARCH...   (reads PREFIX-ARCH.json)
Exit 1 if the file is missing, holds no test, or any test failed/crashed;
the failing suites are named.  --total prints the KUnit, guest
(guest-ARCH.json) and total counts over all arches; the last line is
"total: N passed, N failed, N skipped".
"""
import glob
import json
import os
import sys


def walk(group, path, bad, suites):
    for case in group.get("test_cases", []):
        if case["status"] in ("FAIL", "ERROR"):
            bad.append(f"{'.'.join(path)}.{case['name']}: {case['status']}")
    for sub in group.get("sub_groups", []):
        if not path:
            suites.add(sub["name"])
        walk(sub, path + [sub["name"]], bad, suites)


def total(prefixes):
    passed = failed = skipped = 0
    for p in prefixes:
        try:
            with open(p + ".json") as f:
                m = json.load(f)["misc"]
        except (OSError, ValueError, KeyError):
            failed += 1  # a kernel that did not build or boot
            continue
        passed += m["passed"]
        failed += m["failed"] + m["crashed"] + m["errors"]
        skipped += m["skipped"]
    print(f"kunit: {passed} passed, {failed} failed, {skipped} skipped")
    # The guest runs of the same arches, when they ran
    gp = gf = gs = 0
    for p in prefixes:
        for g in sorted(glob.glob(p.replace("/kunit-", "/guest-") + "-*.json")):
            try:
                with open(g) as f:
                    r = json.load(f)
            except (OSError, ValueError):
                gf += 1
                continue
            gp += r["passed"]
            gf += r["failed"] + len(r["problems"])
            gs += r["skipped"]
    print(f"guest: {gp} passed, {gf} failed, {gs} skipped")
    steps = int(os.environ.get("FAILED_STEPS", "0"))
    print(f"total: {passed + gp} passed, {failed + gf + steps} failed, {skipped + gs} skipped")
    return 1 if failed or gf else 0


def main():
    if sys.argv[1] == "--total":
        return total(sys.argv[2:])
    arch, path = sys.argv[1], sys.argv[2]
    try:
        with open(path) as f:
            top = json.load(f)
    except (OSError, ValueError) as e:
        print(f"KUnit {arch}: no results ({e}): the kernel did not build or boot")
        return 1
    m = top["misc"]
    bad, suites = [], set()
    walk(top, [], bad, suites)
    failed = m["failed"] + m["crashed"] + m["errors"]
    print(f"KUnit {arch}: {m['passed']} passed, {failed} failed, "
          f"{m['skipped']} skipped ({len(suites)} suites)")
    for b in bad:
        print(f"  FAILED {b}")
    if failed or bad or m["tests"] == 0:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
