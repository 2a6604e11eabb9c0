#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The robustness table: results/robustness.{md,json}.

usage: robustness-report.py RESULTS_DIR OUT_DIR ARCH...

Per arch and kernel (default, debug), per part: cases tried, outcomes
equal to C, failures and kernel splats. Hostile cases count one per
rseq_hostile case or rseq_fuzz sequence (each run under C and under Rust
and compared); the
other parts count guest plan lines (or KUnit cases). Exit 1 when any case
failed or differed, a run is missing, or there is any splat.
"""
import json
import os
import re
import subprocess
import sys
import tempfile


PARTS = [
    # (part, kernel, results name: kunit-debug-ARCH or guest-ARCH-NAME)
    ("KUnit + differential (rseq_debug=1)", "debug", "kunit"),
    ("selftests (quick.plan)", "debug", "quick-debug"),
    ("TCMalloc pattern and policies (stress.plan)", "debug", "stress-debug"),
    ("hostile user space (hostile.plan)", "debug", "hostile-debug"),
    ("hostile user space, rseq_debug=1 (hostile.plan)", "debug", "hostile-debug-rseqdebug"),
    ("hostile user space (hostile.plan)", "default", "hostile"),
    ("fuzzer, rseq/debug off and on (fuzz.plan)", "default", "fuzz"),
    ("rseq/impl and rseq/legacy switched every 5 ms under load (switch.plan)", "default",
     "switch"),
    ("fail_usercopy under the stress programs (faults.plan)", "debug", "faults-debug"),
    ("module load/unload, 20 cycles under load (module.plan)", "debug", "module-debug"),
    ("module 100 cycles under stress + selftests (robust.plan)", "default", "robust"),
]


def guest_result(res, name):
    """tap-summary.py's verdict on the console log guest-NAME.log (the
    JSON next to it may be gone: make test clears those of its arch)."""
    logf = os.path.join(res, f"guest-{name}.log")
    if not os.path.exists(logf):
        return None
    out = os.path.join(tempfile.mkdtemp(), "r.json")
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "tap-summary.py"),
                    name, logf, out], capture_output=True, check=False)
    return load(out)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def count_splats(path):
    """Splat lines in a console log, as tap-summary.py defines them."""
    r = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "tap-summary.py"),
                        "--splats", path], capture_output=True, text=True, check=False)
    return len(r.stdout.splitlines())


def hostile(logf):
    """rseq_hostile cases and rseq_fuzz sequences: (same, different, flaky)"""
    same = diff = flaky = 0
    try:
        with open(logf, errors="replace") as f:
            for ln in f:
                m = re.match(r"^#\s+rseq_fuzz: seeds .*: (\d+) the same under C and Rust, "
                             r"(\d+) different(?:, (\d+) flaky)?", ln)
                if m:
                    same += int(m.group(1))
                    diff += int(m.group(2))
                    flaky += int(m.group(3) or 0)
                elif re.match(r"^#\s+same ", ln):
                    same += 1
                elif re.match(r"^#\s+DIFFERENT (?!seed )", ln):  # (rseq_fuzz's: counted above)
                    diff += 1
    except OSError:
        return None
    return same, diff, flaky


def main():
    res, out, arches = sys.argv[1], sys.argv[2], sys.argv[3:]
    rows, ok = [], True
    for arch in arches:
        for part, kernel, src in PARTS:
            row = {"arch": arch, "kernel": kernel, "part": part}
            if src == "kunit":
                name = f"debug-{arch}"
                j = load(os.path.join(res, f"kunit-{name}.json"))
                # The raw console of the KUnit boot
                splats = count_splats(os.path.join(os.path.dirname(os.path.abspath(res)),
                                                   "build", name, "test.log"))
                if j is None:
                    row.update(tried=None)
                else:
                    p = sum(g["misc"]["passed"] for g in j.get("sub_groups", []))
                    f = sum(g["misc"]["failed"] + g["misc"]["crashed"] + g["misc"]["errors"]
                            for g in j.get("sub_groups", []))
                    row.update(tried=p + f, equal=p, failed=f, splats=splats or 0)
            else:
                logf = os.path.join(res, f"guest-{arch}-{src}.log")
                j = guest_result(res, f"{arch}-{src}")
                if j is None:
                    row.update(tried=None)
                elif src.startswith("hostile") or src == "fuzz":
                    # (flaky fuzz sequences: tried, neither equal nor failed)
                    same, diff, flaky = hostile(logf)
                    row.update(tried=same + diff + flaky, equal=same, failed=diff + j["failed"],
                               splats=len(j["splats"]), problems=j["problems"])
                else:
                    row.update(tried=j["passed"] + j["failed"] + j["skipped"],
                               equal=j["passed"], failed=j["failed"],
                               splats=len(j["splats"]), problems=j["problems"])
            if (row["tried"] is None or not row["tried"] or row["failed"] or row["splats"]
                    or row.get("problems")):
                ok = False
            rows.append(row)
    md = ["| arch | kernel | part | cases tried | outcomes equal to C / passed | failed | splats |",
          "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        if r["tried"] is None:
            md.append(f"| {r['arch']} | {r['kernel']} | {r['part']} | not run | | | |")
        else:
            md.append(f"| {r['arch']} | {r['kernel']} | {r['part']} | {r['tried']} "
                      f"| {r['equal']} | {r['failed']} | {r['splats']} |")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "robustness.json"), "w") as f:
        json.dump(rows, f, indent=1)
    with open(os.path.join(out, "robustness.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
