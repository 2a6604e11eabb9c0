#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write the make-run report (Markdown and JSON) from the cached results."""
import argparse
import datetime
import json
import os
import subprocess


def suites(path):
    """(suite, passed, failed, skipped) per top-level KUnit suite."""
    try:
        with open(path) as f:
            top = json.load(f)
    except (OSError, ValueError):
        return None
    rows = []
    for sub in top.get("sub_groups", []):
        m = sub["misc"]
        rows.append((sub["name"], m["passed"],
                     m["failed"] + m["crashed"] + m["errors"], m["skipped"]))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    res = os.path.join(args.cache, "results")
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "patches": sorted(p for p in os.listdir(os.path.join(top, "patches"))
                          if p.endswith(".patch")),
        "kunit": {},
    }
    try:
        with open(os.path.join(args.cache, "toolchain-versions.txt")) as f:
            report["toolchain"] = [line.rstrip() for line in f if line.strip()]
    except OSError:
        report["toolchain"] = []
    try:
        report["commit"] = subprocess.run(
            ["git", "-C", top, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        report["commit"] = "unknown"

    md = [f"# rseq-rs report ({report['date']}, commit {report['commit']})", ""]
    md += ["## Toolchain", ""] + [f"    {v}" for v in report["toolchain"]] + [""]
    md += ["## Series", ""] + [f"- {p}" for p in report["patches"]] + [""]
    md += ["## KUnit", "", "| arch | suite | passed | failed | skipped |",
           "|---|---|---:|---:|---:|"]
    bad = False
    # slice-x86_64: the time slice extension + NUMA kernel (kunit/slice.config)
    for arch in ("x86_64", "arm64", "slice-x86_64"):
        rows = suites(os.path.join(res, f"kunit-{arch}.json"))
        if rows is None:
            md.append(f"| {arch} | (no results: did not build or boot) | | | |")
            report["kunit"][arch] = None
            bad = True
            continue
        report["kunit"][arch] = [dict(zip(("suite", "passed", "failed", "skipped"), r))
                                 for r in rows]
        for r in rows:
            md.append(f"| {arch} | {r[0]} | {r[1]} | {r[2]} | {r[3]} |")
            bad |= r[2] > 0
    md.append("")

    md += ["## In-guest runs (QEMU/TCG, 2 vCPUs; slice, numa: 4 on two NUMA nodes; "
           "-debian: Debian's config, scripts/distro)", "",
           "| arch | plan | passed | failed | skipped | problems |",
           "|---|---|---:|---:|---:|---|"]
    report["guest"] = {}
    for arch in ("x86_64", "arm64"):
        for plan in ("quick", "module", "stress", "hostile", "switch", "full", "matrix",
                     "slice", "numa", "quick-debian", "stress-debian"):
            try:
                with open(os.path.join(res, f"guest-{arch}-{plan}.json")) as f:
                    g = json.load(f)
            except (OSError, ValueError):
                continue
            report["guest"][f"{arch}-{plan}"] = g
            md.append(f"| {arch} | {plan} | {g['passed']} | {g['failed']} | "
                      f"{g['skipped']} | {'; '.join(g['problems']) or '-'} |")
            bad |= bool(g["failed"] or g["problems"])
            for r in g["results"]:
                if r["status"] == "FAIL":
                    md.append(f"| | FAILED {r['name']} | | | | {r['note']} |")
    md.append("")

    md += ["## Validation matrix", ""]
    try:
        with open(os.path.join(args.out, "matrix.md")) as f:
            md += f.read().splitlines()
    except OSError:
        md.append("(not run)")
    md.append("")

    md += ["## Series check (checkpatch --strict, every prefix builds)", ""]
    try:
        with open(os.path.join(res, "check-series.log")) as f:
            lines = [ln.rstrip() for ln in f
                     if ln.startswith(("checkpatch:", "series:"))]
    except OSError:
        lines = ["(not run)"]
    report["series_check"] = lines
    md += [f"    {ln}" for ln in lines] + [""]

    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    print("\n".join(md))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
