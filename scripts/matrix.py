#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the guest results of user/plans/matrix.plan into the validation matrix.

usage: matrix.py RESULTS_DIR OUT_DIR
Reads RESULTS_DIR/guest-{x86_64,arm64}-matrix.json, writes OUT_DIR/matrix.md
and OUT_DIR/matrix.json, prints the table. Exit 1 if any cell deviates from
its expected verdict (a TAP "not ok"), if a cell is missing, or if C and Rust
disagree.
"""
import json
import os
import re
import sys

ARCHES = ("x86_64", "arm64")
IMPLS = ("c", "rust")


def verdict(res, policy):
    if res["status"] == "FAIL":
        return "DEVIATES: " + res["note"]
    note = res["note"]
    if "signal 11" in note:
        return "killed"
    if "failed as expected" in note:
        return "caught" if policy == "no_reset" else "fails"
    return "pass"


def main():
    res_dir, out_dir = sys.argv[1:3]
    cells, rows, bad = {}, [], False
    for arch in ARCHES:
        try:
            with open(os.path.join(res_dir, f"guest-{arch}-matrix.json")) as f:
                g = json.load(f)
        except (OSError, ValueError):
            print(f"matrix: no results for {arch}")
            bad = True
            continue
        bad |= bool(g["problems"])
        for r in g["results"]:
            m = re.match(r"matrix (.+) (legacy|v2) (\w+)/(\w+)$", r["name"])
            if not m:
                continue
            test, reg, policy, impl = m.groups()
            key = (test, reg, policy)
            if key not in rows:
                rows.append(key)
            cells[(key, arch, impl)] = verdict(r, policy)
    md = ["| test | registration | policy | " +
          " | ".join(f"{a} {i}" for a in ARCHES for i in IMPLS) + " | C = Rust |",
          "|---|---|---|" + "---|" * (len(ARCHES) * len(IMPLS)) + "---|"]
    out = []
    for key in rows:
        vals = [cells.get((key, a, i), "missing") for a in ARCHES for i in IMPLS]
        same = all(cells.get((key, a, "c")) == cells.get((key, a, "rust")) for a in ARCHES)
        bad |= not same or any(v == "missing" or v.startswith("DEVIATES") for v in vals)
        md.append(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(vals) +
                  f" | {'yes' if same else 'NO'} |")
        out.append({"test": key[0], "registration": key[1], "policy": key[2],
                    "cells": {f"{a}/{i}": cells.get((key, a, i), "missing")
                              for a in ARCHES for i in IMPLS},
                    "c_equals_rust": same})
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "matrix.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(out_dir, "matrix.json"), "w") as f:
        json.dump({"rows": out, "deviations": bad}, f, indent=2)
    print("\n".join(md))
    print(f"matrix: {len(rows)} rows x {len(ARCHES) * len(IMPLS)} columns, "
          f"{'DEVIATIONS' if bad else 'every cell as expected, C = Rust everywhere'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
