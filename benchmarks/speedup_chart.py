"""Draw docs/bench/speedups.svg: scholarlens against its peers, end-to-end seconds on a log scale.

The figures are those of docs/benchmarks.md (one run of run_all.py); update FIGURES with them after a new run.
Plain SVG, so no plotting library is needed: python benchmarks/speedup_chart.py
"""

from __future__ import annotations

import math
from pathlib import Path

# (case, scholarlens seconds, peer seconds, peer)
FIGURES = [
    ("CD index, 1M edges (hubs)", 0.82, 42.8, "cdindex"),
    ("CD index, 1M edges", 0.76, 16.1, "cdindex"),
    ("DI1, 100k edges", 0.13, 18.3, "novelpy"),
    ("Uzzi, 2,000 focal", 0.157, 127.2, "novelpy"),
    ("Lee, 2,000 focal", 0.043, 1.19, "novelpy"),
]
OUT = Path(__file__).resolve().parents[1] / "docs" / "bench" / "speedups.svg"


def draw(figures=FIGURES, width: int = 900, left: int = 210, top: int = 30, row: int = 46) -> str:
    height = top + row * len(figures) + 40
    lo, hi = math.log10(0.01), math.log10(1000)
    plot = width - left - 170  # room on the right for the longest label

    def x(seconds: float) -> float:
        return left + (math.log10(seconds) - lo) / (hi - lo) * plot

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             f'<text x="{left}" y="18" font-weight="bold">seconds, load + compute (log scale): scholarlens (blue) vs peer (grey)</text>']
    for tick in (0.01, 0.1, 1, 10, 100, 1000):
        parts.append(f'<line x1="{x(tick):.1f}" y1="{top - 4}" x2="{x(tick):.1f}" y2="{height - 30}" stroke="#ddd"/>'
                     f'<text x="{x(tick):.1f}" y="{height - 14}" text-anchor="middle" fill="#666">{tick:g} s</text>')
    for i, (case, ours, peer, who) in enumerate(figures):
        y = top + i * row
        parts.append(f'<text x="{left - 8}" y="{y + 18}" text-anchor="end">{case}</text>')
        parts.append(f'<rect x="{left}" y="{y + 4}" width="{x(ours) - left:.1f}" height="14" fill="#2f5bd3"/>'
                     f'<text x="{x(ours) + 4:.1f}" y="{y + 15}" fill="#2f5bd3">{ours:g} s</text>')
        parts.append(f'<rect x="{left}" y="{y + 21}" width="{x(peer) - left:.1f}" height="14" fill="#9ca3af"/>'
                     f'<text x="{x(peer) + 4:.1f}" y="{y + 32}" fill="#555">{who} {peer:g} s ({peer / ours:.0f}x)</text>')
    parts.append("</svg>")
    return "\n".join(parts)


if __name__ == "__main__":
    OUT.write_text(draw(), encoding="utf-8")
    print(f"wrote {OUT}")
