"""Draw one bench_scale run as a timeline: cores kept busy and memory over the build, step by step.

    python benchmarks/timeline_chart.py ROOT/results.json --edges 100000000 --engine duckdb --out docs/bench/X.svg

The run's samples (bench_scale.run_measured: every 0.5 s, the process tree's resident memory and CPU seconds so
far) give the cores in use as CPU seconds over wall seconds in windows of --window seconds. A step that leaves a
core idle shows as a stretch under the machine's core count. Plain SVG, so no plotting library is needed.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

# Bands in turn: three colours, so that two steps either side of a step too short to see still differ
STEP_COLOURS = ("#eef2ff", "#fef3c7", "#ecfdf5")


def cores_busy(timeline: list[list[float]], window: float) -> list[tuple[float, float]]:
    """(end of window, cores busy in it) from (seconds, MiB, CPU seconds so far) samples."""
    out, start = [], 0
    for i, (t, _, cpu) in enumerate(timeline):
        while timeline[start][0] < t - window:
            start += 1
        t0, _, cpu0 = timeline[start]
        if i > start and t > t0:
            out.append((t, (cpu - cpu0) / (t - t0)))
    return out


def draw(run: dict, title: str, cores: int, window: float = 5.0, width: int = 960) -> str:
    timeline, starts = run["timeline"], run["step_starts"]
    end = timeline[-1][0]
    left, right, top, panel, gap = 60, 20, 40, 150, 40
    plot = width - left - right
    height = top + 2 * panel + gap + 50
    peak_gib = max(m for _, m, _ in timeline) / 1024
    mem_top = max(1.0, peak_gib * 1.1)

    def x(seconds: float) -> float:
        return left + seconds / end * plot

    def y_cores(value: float) -> float:
        return top + panel - min(value, cores) / cores * panel

    def y_mem(gib: float) -> float:
        return top + panel + gap + panel - gib / mem_top * panel

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" font-family="sans-serif" '
             f'font-size="11">', f'<text x="{left}" y="16" font-weight="bold" font-size="13">{title}</text>']
    # the steps as bands across both panels, named at the top when there is room
    bounds = [(name, at) for name, at in starts] + [("", end)]
    for i, ((name, a), (_, b)) in enumerate(zip(bounds, bounds[1:])):
        if name == "done":
            continue
        parts.append(f'<rect x="{x(a):.1f}" y="{top}" width="{max(0.5, x(b) - x(a)):.1f}" '
                     f'height="{2 * panel + gap}" fill="{STEP_COLOURS[i % len(STEP_COLOURS)]}"/>')
        if x(b) - x(a) > 6 * len(name):
            parts.append(f'<text x="{(x(a) + x(b)) / 2:.1f}" y="{top - 4}" text-anchor="middle" fill="#333">'
                         f'{name} ({b - a:,.0f} s)</text>')
    # axes and grid
    for c in range(cores + 1):
        parts.append(f'<line x1="{left}" y1="{y_cores(c):.1f}" x2="{width - right}" y2="{y_cores(c):.1f}" '
                     f'stroke="#ccc"/><text x="{left - 6}" y="{y_cores(c) + 4:.1f}" text-anchor="end">{c}</text>')
    step = 2 if mem_top > 6 else 1
    for g in range(0, int(mem_top) + 1, step):
        parts.append(f'<line x1="{left}" y1="{y_mem(g):.1f}" x2="{width - right}" y2="{y_mem(g):.1f}" '
                     f'stroke="#ccc"/><text x="{left - 6}" y="{y_mem(g) + 4:.1f}" text-anchor="end">{g}</text>')
    parts.append(f'<text x="14" y="{top + panel / 2}" transform="rotate(-90 14 {top + panel / 2})" '
                 f'text-anchor="middle">cores busy ({window:g} s windows)</text>')
    mid = top + panel + gap + panel / 2
    parts.append(f'<text x="14" y="{mid}" transform="rotate(-90 14 {mid})" text-anchor="middle">memory, GiB</text>')
    tick = next((t for t in (1, 2, 5, 10, 30, 60, 120, 300, 600) if end / t <= 14), 1200)  # at most 14 labels
    for s in range(0, int(end) + 1, tick):
        parts.append(f'<text x="{x(s):.1f}" y="{height - 24}" text-anchor="middle" fill="#555">{s} s</text>')
    # the two series
    busy = " ".join(f"{x(t):.1f},{y_cores(c):.1f}" for t, c in cores_busy(timeline, window))
    mem = " ".join(f"{x(t):.1f},{y_mem(m / 1024):.1f}" for t, m, _ in timeline)
    parts.append(f'<polyline points="{busy}" fill="none" stroke="#2f5bd3" stroke-width="1.2"/>')
    parts.append(f'<polyline points="{mem}" fill="none" stroke="#b45309" stroke-width="1.2"/>')
    parts.append(f'<text x="{left}" y="{height - 6}" fill="#555">wall {end:,.0f} s; peak {peak_gib:.1f} GiB for the '
                 f'process tree; {timeline[-1][2]:,.0f} CPU s ({timeline[-1][2] / end:.2f} of {cores} cores on '
                 f'average)</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="a bench_scale results.json")
    parser.add_argument("--edges", type=int, required=True)
    parser.add_argument("--engine", default="duckdb")
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = next(r for r in json.loads(args.results.read_text()) if r["graph"]["edges"] == args.edges)
    run = result["engines"][args.engine]
    title = (f"{args.engine} build, {args.edges:,} citations ({result['options']['started']} UTC, "
             f"persons: {result['options']['persons']})")
    args.out.write_text(draw(run, title, os.cpu_count() or 1, args.window), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
