"""Seeded OpenAlex snapshot folders of N works with the real record shape, for the snapshot benchmark and tests.

Every generated work is one of the real OpenAlex work objects in benchmarks/data/openalex_works/ (156 distinct
works, see its SOURCE.md), picked uniformly at random, with every identifier replaced so that no two generated
works share a key by accident and none meets a real work:

- the work id (``id``, ``ids.openalex``, ``cited_by_api_url``): W9000000000 + i (``--id-offset`` moves it);
- the DOI (``doi``, ``ids.doi`` and every location URL that holds it, in any case): the real DOI + ".slg<i>";
- every arXiv id (arxiv.org/abs|pdf URLs, 10.48550/arXiv DOIs): a new-style id "5yyy.nnnnn" made from i;
- ``ids.mag``, ``ids.pmid``, ``ids.pmcid``: numbers made from i;
- ``referenced_works`` and ``related_works``: random other generated works (never the work itself), so
  citations point inside the snapshot as they do in a full one;
- authors (``authorships[].author.id``, ``corresponding_author_ids``, the ORCID): drawn from a pool of
  max(1000, N/2) generated authors, so an author has works from different templates (and different printed
  names, as in real data);
- institutions (ids in authorships, ``corresponding_institution_ids``, ``institution_assertions``, the ROR):
  drawn from a pool of max(200, N/20);
- the title (``title``, ``display_name``): the real title + " [i]", since the store also matches works on
  title + year + first author;
- ``updated_date``: the date of the folder the work sits in.

Everything else (titles, abstracts, topics, concepts, locations, counts_by_year, sources, ...) is the real
object's. Works are spread over ``--dates`` folders ``updated_date=YYYY-MM-DD`` and parts of at most
``--per-part`` works, as OpenAlex lays out its snapshot (data/works/updated_date=.../part_NNN.gz, JSON Lines),
with a ``manifest`` beside them. The same N, seed and options give byte-identical files.

Command line: ``python benchmarks/snapshotgen.py --works 100000 --out DIR [--seed 1] [--jobs 2]``
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import gzip
import json
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import orjson

BASES = Path(__file__).resolve().parent / "data" / "openalex_works" / "works.jsonl.gz"
WORK_ID_OFFSET = 9_000_000_000
_SLOT = re.compile(r"@@([A-Z]+\d*)@@")
_ARXIV_ID = r"(\d{4}\.\d{4,5}|[a-z][a-z.-]*(?:\.[A-Z]{2})?/\d{7})"
_ARXIV_IN_TEXT = re.compile(r"(?:arxiv\.org/(?:abs|pdf)/|10\.48550/arxiv\.)" + _ARXIV_ID, re.IGNORECASE)


def load_bases(path: Path = BASES) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Template:
    """One real work as text pieces around named slots ("W", "DOI", "X0", "A3", "R17", ...)."""

    def __init__(self, work: dict):
        w = copy.deepcopy(work)
        short = w["id"].rsplit("/", 1)[1]
        authors: dict[str, int] = {}
        insts: dict[str, int] = {}

        def author_slot(url: str) -> str:
            k = authors.setdefault(url.rsplit("/", 1)[1], len(authors))
            return f"https://openalex.org/@@A{k}@@"

        def inst_slot(url: str) -> str:
            k = insts.setdefault(url.rsplit("/", 1)[1], len(insts))
            return f"https://openalex.org/@@I{k}@@"

        for a in w.get("authorships") or []:
            au = a.get("author") or {}
            if au.get("id"):
                k_slot = author_slot(au["id"])
                au["id"] = k_slot
                if au.get("orcid"):
                    au["orcid"] = "https://orcid.org/" + k_slot.replace("@@A", "@@O").rsplit("/", 1)[1]
            for inst in a.get("institutions") or []:
                if inst.get("id"):
                    inst["id"] = inst_slot(inst["id"])
                    if inst.get("ror"):
                        inst["ror"] = "https://ror.org/" + inst["id"].rsplit("/", 1)[1].replace("@@I", "@@ROR")
                    inst["lineage"] = [inst_slot(x) for x in inst.get("lineage") or []]
            for aff in a.get("affiliations") or []:
                aff["institution_ids"] = [inst_slot(x) for x in aff.get("institution_ids") or []]
        w["corresponding_author_ids"] = [author_slot(x) for x in w.get("corresponding_author_ids") or []]
        w["corresponding_institution_ids"] = [inst_slot(x) for x in w.get("corresponding_institution_ids") or []]
        for ia in w.get("institution_assertions") or []:
            if isinstance(ia, dict) and ia.get("id"):
                ia["id"] = inst_slot(ia["id"])
                ia["lineage"] = [inst_slot(x) for x in ia.get("lineage") or []]
        w["referenced_works"] = [f"https://openalex.org/@@R{k}@@" for k in range(len(w.get("referenced_works") or []))]
        w["related_works"] = [f"https://openalex.org/@@L{k}@@" for k in range(len(w.get("related_works") or []))]
        ids = w.get("ids") or {}
        for key, prefix in (("mag", ""), ("pmid", "https://pubmed.ncbi.nlm.nih.gov/"),
                            ("pmcid", "https://www.ncbi.nlm.nih.gov/pmc/articles/")):
            if ids.get(key):
                ids[key] = f"{prefix}@@{key.upper()}@@"
        w["updated_date"] = "@@UPD@@"
        # The title is an identifier too: the store matches works on title + year + first author.
        title = work.get("display_name") or work.get("title")
        for key in ("title", "display_name"):
            if isinstance(w.get(key), str) and w[key]:
                w[key] = "@@TTL@@"

        text = orjson.dumps(w).decode()
        assert "@@" not in orjson.dumps(work).decode(), "a real work already holds the slot marker"
        # Identifiers that sit inside text: the work id, arXiv ids, the DOI.
        text = re.sub(rf"\b{short}\b", "@@W@@", text)
        arxiv = list(dict.fromkeys(m.group(1) for m in _ARXIV_IN_TEXT.finditer(text)))
        for k, old in enumerate(arxiv):
            text = re.sub(r"(arxiv\.org/(?:abs|pdf)/|10\.48550/arxiv\.)" + re.escape(old),
                          lambda m, k=k: m.group(1) + f"@@X{k}@@", text, flags=re.IGNORECASE)
        doi = (work.get("doi") or "").lower().removeprefix("https://doi.org/")
        if doi and "10.48550/arxiv." not in doi:
            text = re.sub(re.escape(doi), "@@DOI@@", text, flags=re.IGNORECASE)
        parts = _SLOT.split(text)
        self.pieces = parts[0::2]
        self.slots = parts[1::2]
        self.n_authors, self.n_insts = len(authors), len(insts)
        self.n_refs = len(w["referenced_works"])
        self.n_related = len(w["related_works"])
        self.doi = doi
        self.title_json = orjson.dumps(title).decode()[1:-1] if isinstance(title, str) else ""
        self.bytes = len(orjson.dumps(work))

    def render(self, values: dict[str, str]) -> str:
        out = [self.pieces[0]]
        for slot, piece in zip(self.slots, self.pieces[1:]):
            out.append(values[slot])
            out.append(piece)
        return "".join(out)


def _arxiv(i: int, k: int) -> str:
    return f"{5000 + 1000 * k + i // 100_000:04d}.{i % 100_000:05d}"


def work_values(t: Template, i: int, n: int, rng: np.random.Generator, updated: str, id_offset: int) -> dict[str, str]:
    author_pool, inst_pool = max(1000, n // 2), max(200, n // 20)
    v = {
        "W": f"W{id_offset + i}",
        "DOI": f"{t.doi}.slg{i}",
        "MAG": str(id_offset * 10 + i),
        "PMID": str(90_000_000 + i),
        "PMCID": str(9_000_000 + i),
        "UPD": updated,
        "TTL": f"{t.title_json} [{i}]",
    }
    for k in range(4):
        v[f"X{k}"] = _arxiv(i, k)
    for k, a in enumerate(rng.integers(0, author_pool, t.n_authors)):
        v[f"A{k}"] = f"A{9_000_000_000 + int(a)}"
        v[f"O{k}"] = f"0009-{int(a) // 10**8 % 10000:04d}-{int(a) // 10**4 % 10000:04d}-{int(a) % 10000:04d}"
    for k, s in enumerate(rng.integers(0, inst_pool, t.n_insts)):
        v[f"I{k}"] = f"I{9_000_000_000 + int(s)}"
        v[f"ROR{k}"] = f"0s{int(s):07d}"
    for prefix, count in (("R", t.n_refs), ("L", t.n_related)):
        for k, r in enumerate(rng.integers(0, n, count)):
            r = int(r)
            v[f"{prefix}{k}"] = f"W{id_offset + (r if r != i else (r + 1) % n)}"
    return v


# The typical mix (``--mix typical``): what an average OpenAlex work looks like, by our reading of OpenAlex's
# published totals. ASSUMPTIONS, not measurements of the snapshot: about 250M works, 2-3B citation edges and
# ~1.6 TB of JSON (works being most of it) give ~10 references and ~4 authorships per work and roughly 5-7 KB of
# JSON per work; about half of the works carry an abstract. The counts are drawn per work (negative binomial:
# many works have no references, a few have hundreds), so the means are these figures and the spread is wide.
TYPICAL = {
    "references_per_work": 10.0,
    "authorships_per_work": 4.0,
    "share_without_authors": 0.06,
    "authorships_with_institution": 0.5,  # older and smaller works often have no affiliation at all
    "share_with_abstract": 0.5,
    "locations_extra_share": 0.3,  # a second location (a repository copy) beside the publisher's
    "share_with_mesh": 0.14,  # works indexed by PubMed
    "counts_by_year_per_work": 2.0,  # years with citations among the last ten
    "concepts_per_work": 4.0,
    "topics_extra_share": 0.5,  # a second and third topic beside the primary one
    "share_open_access": 0.45,  # the others have no best_oa_location
    "json_kb_per_work": 6.0,  # the target the trimming above is chosen for (see the generator's report)
}


def _nb(rng: np.random.Generator, mean: float, shape: float) -> int:
    """A negative binomial draw with this mean (smaller shape: more zeros and a longer tail)."""
    return int(rng.negative_binomial(shape, shape / (shape + mean)))


def typical_work(w: dict, i: int, n: int, rng: np.random.Generator, id_offset: int, abstract_keep: float) -> dict:
    """Trim a rendered heavy work (a real object with new identifiers) to a typical one: the same fields and
    shapes, with fewer authorships (half of them without an affiliation), references, locations, topics,
    concepts, MeSH terms and yearly counts, an open-access location and an abstract about half the time.
    Authorships beyond the template's reuse its authorship objects with new authors."""
    T = TYPICAL
    base = w.get("authorships") or []
    k = 0
    if base and rng.random() >= T["share_without_authors"]:
        k = 1 + _nb(rng, T["authorships_per_work"] / (1 - T["share_without_authors"]) - 1, 1.2)
    authorships = []
    author_pool = max(1000, n // 2)
    for j in range(k):
        a = base[j % len(base)]
        if j >= len(base):  # a new author on a copy of one of the template's authorship objects
            a = copy.deepcopy(a)
            au = a.get("author") or {}
            pick = int(rng.integers(0, author_pool))
            if au.get("id"):
                au["id"] = f"https://openalex.org/A{9_000_000_000 + pick}"
            if au.get("orcid"):
                au["orcid"] = f"https://orcid.org/0009-{pick // 10**8 % 10000:04d}-{pick // 10**4 % 10000:04d}-{pick % 10000:04d}"
        else:
            a = dict(a)
        a["author_position"] = "first" if j == 0 else ("last" if j == k - 1 else "middle")
        if rng.random() >= T["authorships_with_institution"]:
            a.update(institutions=[], countries=[], affiliations=[], raw_affiliation_strings=[])
        authorships.append(a)
    w["authorships"] = authorships
    kept = {(a.get("author") or {}).get("id") for a in authorships}
    w["corresponding_author_ids"] = [x for x in w.get("corresponding_author_ids") or [] if x in kept]
    insts = {inst.get("id") for a in authorships for inst in a.get("institutions") or []}
    w["institutions_distinct_count"] = len(insts)
    w["countries_distinct_count"] = len({c for a in authorships for c in a.get("countries") or []})
    w["corresponding_institution_ids"] = [x for x in w.get("corresponding_institution_ids") or [] if x in insts]
    refs = rng.integers(0, n, _nb(rng, T["references_per_work"], 0.6))
    w["referenced_works"] = [f"https://openalex.org/W{id_offset + (int(r) if r != i else (int(r) + 1) % n)}" for r in refs]
    w["referenced_works_count"] = len(w["referenced_works"])
    if w.get("abstract_inverted_index") and rng.random() >= abstract_keep:
        w["abstract_inverted_index"] = None
    locs = w.get("locations") or []
    if locs:
        w["locations"] = locs[: 1 + (len(locs) > 1 and rng.random() < T["locations_extra_share"])]
        w["locations_count"] = len(w["locations"])
    if w.get("concepts"):
        w["concepts"] = w["concepts"][: max(1, _nb(rng, T["concepts_per_work"], 4.0))]
    if w.get("topics"):
        w["topics"] = w["topics"][: 1 + (rng.random() < T["topics_extra_share"]) * 2]
    if rng.random() >= T["share_open_access"]:
        w["best_oa_location"] = None
    if w.get("mesh") and rng.random() >= T["share_with_mesh"]:
        w["mesh"] = []
    cby = w.get("counts_by_year") or []
    w["counts_by_year"] = cby[: _nb(rng, T["counts_by_year_per_work"], 0.8)]
    w["cited_by_count"] = sum(int(c.get("cited_by_count") or 0) for c in w["counts_by_year"])
    return w


MIXES = ("heavy", "typical")


def layout(n: int, dates: int, per_part: int) -> list[tuple[str, int, int, int]]:
    """(updated_date, part number, first work, works in part) for every part, in order."""
    dates = max(1, min(dates, n))
    first_day = dt.date(2025, 9, 1)
    out = []
    start = 0
    for d in range(dates):
        size = n // dates + (1 if d < n % dates else 0)
        day = (first_day + dt.timedelta(days=7 * d)).isoformat()
        for p, s in enumerate(range(0, size, per_part)):
            out.append((day, p, start + s, min(per_part, size - s)))
        start += size
    return out


def _write_part(args) -> tuple[str, int, int, int]:
    out, day, part, first, count, n, seed, id_offset, level, mix = args
    bases = load_bases()
    templates = [Template(w) for w in bases]
    rng = np.random.default_rng([seed, first] if mix == "heavy" else [seed, first, 1])
    with_abstract = sum(1 for w in bases if w.get("abstract_inverted_index")) / len(bases)
    abstract_keep = min(1.0, TYPICAL["share_with_abstract"] / with_abstract)
    picks = rng.integers(0, len(templates), count)
    folder = Path(out) / "data" / "works" / f"updated_date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part_{part:03d}.gz"
    raw = 0
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", compresslevel=level, mtime=0) as gz:
        buf = []
        for j, b in enumerate(picks):
            i = first + j
            t = templates[int(b)]
            upd = f"{day}T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000000:06d}"
            line = t.render(work_values(t, i, n, rng, upd, id_offset))
            if mix == "typical":
                line = orjson.dumps(typical_work(orjson.loads(line), i, n, rng, id_offset, abstract_keep)).decode()
            line += "\n"
            buf.append(line)
            if len(buf) >= 2000:
                data = "".join(buf).encode()
                raw += len(data)
                gz.write(data)
                buf.clear()
        data = "".join(buf).encode()
        raw += len(data)
        gz.write(data)
    return str(path.relative_to(out)), count, path.stat().st_size, raw


def generate(n: int, out: str | Path, *, seed: int = 1, dates: int = 4, per_part: int = 50_000,
             jobs: int = 1, id_offset: int = WORK_ID_OFFSET, level: int = 6, mix: str = "heavy") -> dict:
    """Write the snapshot of ``n`` works under ``out`` (out/data/works/...); returns what was written.

    ``mix``: "heavy" (every work a real highly cited work, as it is) or "typical" (trimmed to the TYPICAL
    averages)."""
    if mix not in MIXES:
        raise ValueError(f"mix must be one of {MIXES}, not {mix!r}")
    out = Path(out)
    tasks = [(str(out), day, part, first, count, n, seed, id_offset, level, mix)
             for day, part, first, count in layout(n, dates, per_part)]
    if jobs > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(jobs) as ex:
            results = list(ex.map(_write_part, tasks))
    else:
        results = [_write_part(t) for t in tasks]
    entries = [{"url": f"s3://openalex/{rel}", "meta": {"content_length": size, "record_count": count}}
               for rel, count, size, _ in results]
    manifest = {"entries": entries, "meta": {"content_length": sum(e["meta"]["content_length"] for e in entries),
                                             "record_count": sum(e["meta"]["record_count"] for e in entries)}}
    (out / "data" / "works" / "manifest").write_text(json.dumps(manifest, indent=2))
    return {"works": n, "mix": mix, "parts": len(results), "gz_bytes": sum(r[2] for r in results),
            "json_bytes": sum(r[3] for r in results)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--works", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dates", type=int, default=4)
    p.add_argument("--per-part", type=int, default=50_000)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--level", type=int, default=6, help="gzip level (6, gzip's default)")
    p.add_argument("--mix", choices=MIXES, default="heavy",
                   help="heavy: the real highly cited works as they are; typical: trimmed to OpenAlex averages")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    info = generate(a.works, a.out, seed=a.seed, dates=a.dates, per_part=a.per_part, jobs=a.jobs, level=a.level,
                    mix=a.mix)
    info["seconds"] = round(time.perf_counter() - t0, 1)
    json.dump(info, sys.stdout)
    print()


if __name__ == "__main__":
    main()
