#!/usr/bin/env python3
"""Issue 24: the fsync's cost. Reads the interleaved runs N-nosync.json and
N-fsync.json beside this file (each `parasol-bench all --only b,c --targets
baseline-sled,parasol`) and prints the Markdown tables of BENCHMARKS.md:
medians with min–max over the runs, absolute and as ratios to the
baseline-sled run of the same bench run."""
import glob
import json
import os
import statistics

here = os.path.dirname(os.path.abspath(__file__))
runs = {"nosync": [], "fsync": []}
for path in sorted(glob.glob(os.path.join(here, "*-*.json"))):
    variant = os.path.basename(path).split("-", 1)[1].removesuffix(".json")
    if variant in runs:
        runs[variant].append(json.load(open(path)))

rows = []  # (scenario, pace) in run order
for chat in runs["fsync"][0]["chats"] if runs["fsync"] else []:
    key = (chat["scenario"], chat["pace"])
    if key not in rows:
        rows.append(key)


def pick(run, key, target):
    for chat in run["chats"]:
        if (chat["scenario"], chat["pace"]) == key and chat["target"] == target:
            return chat["traffic"]
    return None


def spread(values, digits):
    fmt = f"{{:,.{digits}f}}"
    if not values:
        return "–"
    med = statistics.median(values)
    return f"{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def series(variant, key, measure):
    out = []
    for run in runs[variant]:
        p, b = pick(run, key, "parasol"), pick(run, key, "baseline_sled")
        if p and b:
            out.append(measure(p, b))
    return out


n = {v: len(r) for v, r in runs.items()}
print(f"runs: {n['nosync']} without the fsync, {n['fsync']} with it; median (min–max)\n")
print("| scenario | pace | measure | without fsync | with fsync | median with / without |")
print("|---|---|---|---:|---:|---:|")
measures = [
    ("msgs/s", lambda p, b: p["accepted_per_sec"], 0),
    ("msgs/s / baseline-sled", lambda p, b: p["accepted_per_sec"] / b["accepted_per_sec"], 2),
    ("p99 ms", lambda p, b: p["latency"]["p99_ms"], 1),
    ("p99 / baseline-sled", lambda p, b: p["latency"]["p99_ms"] / b["latency"]["p99_ms"], 2),
    ("p50 ms", lambda p, b: p["latency"]["p50_ms"], 1),
    ("baseline-sled msgs/s", lambda p, b: b["accepted_per_sec"], 0),
    ("baseline-sled p99 ms", lambda p, b: b["latency"]["p99_ms"], 1),
    (
        "syncs per acked send",
        lambda p, b: (p["durable_syncs"] or 0) / max(p["accepted_in_all"], 1),
        3,
    ),
    (
        "acked sends per sync",
        lambda p, b: p["accepted_in_all"] / max(p["durable_syncs"] or 0, 1),
        1,
    ),
]
for key in rows:
    for name, measure, digits in measures:
        before = series("nosync", key, measure)
        after = series("fsync", key, measure)
        change = (
            f"{statistics.median(after) / statistics.median(before):.2f}"
            if before and after and statistics.median(before)
            else "–"
        )
        print(f"| {key[0]} | {key[1]} | {name} | {spread(before, digits)} | {spread(after, digits)} | {change} |")

print("\nper run (parasol msgs/s, p99 ms; baseline-sled msgs/s, p99 ms):\n")
for variant in ("nosync", "fsync"):
    for run in runs[variant]:
        cells = []
        for key in rows:
            p, b = pick(run, key, "parasol"), pick(run, key, "baseline_sled")
            cells.append(
                f"{key[0][:1]}{'' if key[0][0] == 'b' else key[0].split()[-1]} {key[1]}: "
                f"{p['accepted_per_sec']:.0f}/{p['latency']['p99_ms']:.1f} vs {b['accepted_per_sec']:.0f}/{b['latency']['p99_ms']:.1f}"
            )
        print(f"- {variant} {run['date']}: " + "; ".join(cells))
