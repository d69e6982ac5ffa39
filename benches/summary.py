#!/usr/bin/env python3
"""Writes a markdown table of the latest criterion results: goro green threads against
OS threads (std::thread + std::sync::mpsc, crossbeam-channel) on the same workloads.

    cargo bench                      # or: cargo bench --bench chan
    python3 benches/summary.py       # prints the table; --out FILE writes it

Reads target/criterion/<group>/<function>[/<param>]/new/{benchmark,estimates}.json.
For each group the goro entry (function id starting with "goro") is compared with every
other entry: ratio = goro time / other time (below 1: goro is faster). Times are
criterion's median per iteration, and per element when the bench set a throughput.
Groups named *_bytes measure resident bytes instead of time (benches/memory.rs).
"""
import argparse
import json
import pathlib
import sys


def load(root):
    rows = {}
    for est in root.glob("**/new/estimates.json"):
        meta = json.loads((est.parent / "benchmark.json").read_text())
        median_ns = json.loads(est.read_text())["median"]["point_estimate"]
        elements = (meta.get("throughput") or {}).get("Elements") or 1
        group = meta["group_id"]
        rows.setdefault(group, {})[meta["function_id"]] = (median_ns / elements, elements)
    return rows


def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def fmt_bytes(b):
    return f"{b / 1024:.2f} KiB" if b >= 1024 else f"{b:.0f} B"


def table(rows):
    out = [
        "| workload | unit | goro | OS threads | goro / OS threads |",
        "|---|---|---:|---:|---|",
    ]
    for group in sorted(rows):
        fns = rows[group]
        goro = [f for f in fns if f.startswith("goro")]
        if not goro:
            continue
        g_ns, elements = fns[goro[0]]
        unit = "per element" if elements > 1 else "per iteration"
        show = fmt
        if group.endswith("_bytes"):  # a custom measurement in bytes (benches/memory.rs)
            unit, show = "bytes per task", fmt_bytes
        others = [f for f in sorted(fns) if not f.startswith("goro")]
        cells = [f"{o}: {show(fns[o][0])}" for o in others]
        ratios = [f"{g_ns / fns[o][0]:.2f}× {o}" for o in others]
        out.append(f"| {group} | {unit} | {show(g_ns)} | {'; '.join(cells)} | {'; '.join(ratios)} |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--criterion", default="target/criterion", help="criterion output dir")
    ap.add_argument("--out", help="write the table to this file instead of stdout")
    args = ap.parse_args()
    root = pathlib.Path(args.criterion)
    if not root.is_dir():
        sys.exit(f"{root} not found: run `cargo bench` first")
    text = table(load(root))
    if args.out:
        pathlib.Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
