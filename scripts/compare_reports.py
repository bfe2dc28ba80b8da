#!/usr/bin/env python3
"""Compare every non-timing number and text of two eval reports (report.json).

Used to check that a refactor leaves an eval's results unchanged:

    python3 scripts/compare_reports.py OLD/report.json NEW/report.json

Timing-like entries (wall time, throughput, seconds) are skipped: any metric, table column,
table row label or claim whose name mentions one of TIMING_WORDS (or a row label in seconds,
"... s"). Provenance and plan are skipped (new
fields). Exit status 1 on any difference, with each one listed.
"""
import json
import math
import sys

TIMING_WORDS = ("_s", " s)", "(s)", "per_s", "/s", "tokens/s", "elapsed", "time", "speed",
                "seconds", "ms", "throughput", "wall", "took", "overhead", "train s")


def timing(name):
    n = name.lower()
    return any(w in n for w in TIMING_WORDS)


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b


def main(old_path, new_path):
    old, new = (json.load(open(p)) for p in (old_path, new_path))
    diffs = []
    for key in ("eval", "paper", "title", "device", "scale", "seed", "notes"):
        if old.get(key) != new.get(key):
            diffs.append(f"{key}: {old.get(key)!r} -> {new.get(key)!r}")
    oc, nc = old.get("claims", []), new.get("claims", [])
    if [c["id"] for c in oc] != [c["id"] for c in nc]:
        diffs.append(f"claim ids differ: {[c['id'] for c in oc]} vs {[c['id'] for c in nc]}")
    for a, b in zip(oc, nc):
        if timing(a["metric"]):
            continue
        for k in ("statement", "metric", "ours", "baseline", "baseline_label", "holds", "detail"):
            if not same(a.get(k), b.get(k)):
                diffs.append(f"claim {a['id']}.{k}: {a.get(k)!r} -> {b.get(k)!r}")
    om, nm = old.get("metrics", {}), new.get("metrics", {})
    if set(om) != set(nm):
        diffs.append(f"metric names differ: {sorted(set(om) ^ set(nm))}")
    n_numbers = 0
    for k in sorted(set(om) & set(nm)):
        if timing(k):
            continue
        n_numbers += 1
        if not same(om[k], nm[k]):
            diffs.append(f"metric {k}: {om[k]!r} -> {nm[k]!r}")
    ot, nt = old.get("tables", []), new.get("tables", [])
    if [t["title"] for t in ot] != [t["title"] for t in nt]:
        diffs.append("table titles differ")
    for a, b in zip(ot, nt):
        if a["columns"] != b["columns"] or len(a["rows"]) != len(b["rows"]):
            diffs.append(f"table {a['title']!r}: shape or columns differ")
            continue
        skip = {i for i, c in enumerate(a["columns"]) if timing(c)}
        for r, (ra, rb) in enumerate(zip(a["rows"], b["rows"])):
            # Rows labelled with a time ("generic training s", "instantiate ms (...)").
            label = ra[0] if ra and isinstance(ra[0], str) else ""
            if timing(label) or label.endswith(" s") or " s (" in label:
                continue
            for i, (x, y) in enumerate(zip(ra, rb)):
                if i in skip:
                    continue
                n_numbers += 1
                if not same(x, y):
                    diffs.append(f"table {a['title']!r} row {r} col {a['columns'][i]!r}: {x!r} -> {y!r}")
    figs = ([f["file"] for f in old.get("figures", [])], [f["file"] for f in new.get("figures", [])])
    if figs[0] != figs[1]:
        diffs.append(f"figures differ: {figs[0]} vs {figs[1]}")
    n_numbers += len(oc)
    for d in diffs:
        print("DIFF", d)
    print(f"{old.get('eval')}: {len(oc)} claims, {n_numbers} values compared, {len(diffs)} differences")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
