"""Record novelpy's outputs on the seeded inputs of the test suite, so the tests compare with them without novelpy.

    /root/venvs/novelpy/bin/python benchmarks/record_novelpy.py            # writes tests/data/peers/
    NOVELPY_PYTHON benchmarks/record_novelpy.py --out DIR --only disruption   # a fresh run elsewhere (live tests)

Run it with a Python that has novelpy 1.4 (`python -m venv V && V/bin/pip install novelpy scipy==1.13.1`);
scholarlens itself is not needed there. novelpy pins pandas 2.1.4 and scipy 1.13.1, so it cannot live in
scholarlens' environment: the tests (tests/analytics/test_disruption.py, test_refnovelty.py) regenerate the same
inputs with the functions below, check them against the `input` block of the recorded file (counts and a SHA-256
of the data), run scholarlens and compare with the recorded values.

What is recorded (novelpy is driven by the same code the benchmarks use, imported from them):
- novelpy_di1.json: Disruptiveness DI1 of every work of graphgen.generate(10_000, seed=5), through
  bench_disruption.write_novelpy_input and bench_disruption.worker_novelpy.
- novelpy_refnovelty.json: Uzzi2013 (6 samples, after random.seed(9)) and Lee2015 scores of the focal year of
  refdata.generate(2_000, 200, n_journals=150, n_fields=5, seed=4), plus the z of every journal pair of that
  year from novelpy's own matrices, through refdata.write_novelpy_json and bench_refnovelty.worker.
- SOURCE.md: versions, command, seeds and date (written when both are recorded into the same directory).

Floats are written with Python's repr (shortest round-tripping form), NaN as null.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import math
import os
import platform
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = ROOT / "tests" / "data" / "peers"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

# The inputs: the arguments the tests have always used for their novelpy comparisons.
DI1 = {"n_edges": 10_000, "seed": 5}
REFNOVELTY = {"n_papers": 2_000, "n_focal": 200, "n_journals": 150, "n_fields": 5, "seed": 4}
UZZI = {"nb_sample": 6, "random_seed": 9}  # novelpy's Uzzi2013 after random.seed(9); scholarlens seed=9

DI1_FILE = "novelpy_di1.json"
REFNOVELTY_FILE = "novelpy_refnovelty.json"


# ---------------------------------------------------------------- inputs, shared with the tests


def di1_input():
    """(works, citations) of the DI1 comparison: graphgen.generate(10_000, seed=5)."""
    from graphgen import generate

    return generate(DI1["n_edges"], seed=DI1["seed"])


def refnovelty_input():
    """(papers, refs) of the Uzzi/Lee comparison: refdata.generate(2_000, 200, 150 journals, 5 fields, seed 4)."""
    import refdata

    p = REFNOVELTY
    return refdata.generate(p["n_papers"], p["n_focal"], n_journals=p["n_journals"], n_fields=p["n_fields"],
                            seed=p["seed"])


def _sha256(columns: dict) -> str:
    """SHA-256 of the columns as plain Python values (ints, strs) in row order: independent of pandas/NumPy
    dtypes, so both environments hash the same data to the same digest."""
    text = json.dumps({name: [v if isinstance(v, str) else int(v) for v in values.tolist()]
                       for name, values in columns.items()}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def di1_fingerprint(works, citations) -> dict:
    return {"works": len(works), "citations": len(citations),
            "sha256": _sha256({"id": works["id"], "time": works["time"], "citing": citations["citing"],
                               "cited": citations["cited"]})}


def refnovelty_fingerprint(papers, refs) -> dict:
    focal_year = int(papers["year"].max())
    return {"papers": len(papers), "references": len(refs), "focal_year": focal_year,
            "focal_papers": int((papers["year"] == focal_year).sum()),
            "sha256": _sha256({"id": papers["id"], "year": papers["year"], "citing": refs["citing"],
                               "journal": refs["journal"], "ref_year": refs["ref_year"]})}


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text())


# ---------------------------------------------------------------- recording (needs novelpy)


def _float(v):
    return None if v is None or math.isnan(v) else float(v)


@contextlib.contextmanager
def _restoring_cwd():
    """The novelpy drivers chdir into their data directory (novelpy reads and writes relative paths)."""
    before = os.getcwd()
    try:
        yield
    finally:
        os.chdir(before)


def record_di1(tmp: Path) -> dict:
    from bench_disruption import worker_novelpy, write_novelpy_input

    works, citations = di1_input()
    data = tmp / "di1"
    write_novelpy_input(works, citations, data)
    with _restoring_cwd():
        worker_novelpy(data, (tmp / "di1_rows.json").resolve())
    rows = sorted(load(tmp / "di1_rows.json"), key=lambda r: r["id"])
    return {
        "peer": "novelpy 1.4 Disruptiveness, DI1 of every work (no time window, same-year citers included)",
        "input": {"generator": f"graphgen.generate({DI1['n_edges']}, seed={DI1['seed']})",
                  **di1_fingerprint(works, citations)},
        "id": [int(r["id"]) for r in rows],
        "di1": [_float(r["di1"]) for r in rows],
        "versions": _versions(),
    }


def record_refnovelty(tmp: Path) -> dict:
    import refdata
    from bench_refnovelty import worker

    papers, refs = refnovelty_input()
    fp = refnovelty_fingerprint(papers, refs)
    data = (tmp / "refnovelty").resolve()
    refdata.write_novelpy_json(papers, refs, data)
    year, seed, shuffles = fp["focal_year"], UZZI["random_seed"], UZZI["nb_sample"]
    with _restoring_cwd():
        worker("np-cooc", data, year, shuffles, seed, 1)
        uzzi = worker("np-uzzi", data, year, shuffles, seed, 1)  # random.seed(seed), then Uzzi2013
        lee = worker("np-lee", data, year, shuffles, seed, 1)
    u, lee_r = uzzi["result"], lee["result"]
    return {
        "peer": f"novelpy 1.4 Uzzi2013 (nb_sample={shuffles}, after random.seed({seed})) and Lee2015, focal year "
                f"{year}, co-occurrence by create_cooc(weighted_network=True, self_loop=True)",
        "input": {"generator": "refdata.generate({n_papers}, {n_focal}, n_journals={n_journals}, "
                               "n_fields={n_fields}, seed={seed})".format(**REFNOVELTY), **fp},
        "settings": {"focal_year": year, "nb_sample": shuffles, "random_seed": seed},
        "uzzi": {"id": [int(i) for i in u["id"]], "conventionality": u["conventionality"],
                 "novelty": u["novelty"]},
        "lee": {"id": [int(i) for i in lee_r["id"]], "novelty": lee_r["novelty"]},
        # Every journal pair formed in the focal year (the nonzeros of novelpy's observed matrix) and its z.
        "pairs": {"journal_a": uzzi["pairs"][0], "journal_b": uzzi["pairs"][1], "z": uzzi["pairs"][2]},
        "versions": _versions(),
    }


def _versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("novelpy", "numpy", "scipy", "pandas")}


def _nulls(values: list) -> int:
    return sum(v is None for v in values)


def source_md(versions: dict, command: str, sizes: dict, records: dict) -> str:
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    d, r = records[DI1_FILE], records[REFNOVELTY_FILE]
    di, ri = d["input"], r["input"]
    ud, lee, pz = r["uzzi"], r["lee"], r["pairs"]
    return f"""# Recorded peer outputs: novelpy

Outputs of novelpy, recorded so that tests/analytics/test_disruption.py and test_refnovelty.py compare scholarlens
with it in every run (novelpy pins pandas 2.1.4 and scipy 1.13.1 and cannot be installed beside scholarlens).

- Recorded {today} by benchmarks/record_novelpy.py, run from the repository root as
  `{command}`.
- That interpreter is a virtualenv with `pip install novelpy scipy==1.13.1`: Python {platform.python_version()},
  novelpy {versions['novelpy']}, NumPy {versions['numpy']}, SciPy {versions['scipy']}, pandas {versions['pandas']}.
- novelpy is driven by the benchmarks' own code: bench_disruption.write_novelpy_input and worker_novelpy (DI1);
  refdata.write_novelpy_json and bench_refnovelty.worker("np-cooc" / "np-uzzi" / "np-lee") (Uzzi, Lee).

Files ({', '.join(f'{name} {size:,} bytes' for name, size in sizes.items())}):

- `{DI1_FILE}`: DI1 of every work of `graphgen.generate({DI1['n_edges']}, seed={DI1['seed']})`:
  {di['works']:,} works, {di['citations']:,} citations (input SHA-256 {di['sha256'][:16]}...). novelpy's
  `create_citation_network`, then `Disruptiveness` for every year. `id` sorted, `di1` in the same order
  ({len(d['id']):,} values, {_nulls(d['di1'])} NaN).
- `{REFNOVELTY_FILE}`: `refdata.generate({REFNOVELTY['n_papers']}, {REFNOVELTY['n_focal']}, \
n_journals={REFNOVELTY['n_journals']}, n_fields={REFNOVELTY['n_fields']}, seed={REFNOVELTY['seed']})`:
  {ri['papers']:,} papers, {ri['references']:,} references, focal year {ri['focal_year']} with \
{ri['focal_papers']} papers
  (input SHA-256 {ri['sha256'][:16]}...). novelpy scores the focal year:
  `create_cooc(time_window=[{ri['focal_year']}], weighted_network=True, self_loop=True)`, then
  `random.seed({UZZI['random_seed']})` and `Uzzi2013(nb_sample={UZZI['nb_sample']})`, then `Lee2015`.
  `uzzi`: {len(ud['id'])} papers, {_nulls(ud['conventionality'])} of them NaN in novelpy (null in the file);
  `lee`: {len(lee['id'])} papers, {_nulls(lee['novelty'])} NaN; `pairs`: every journal pair of the focal year (the
  nonzeros of novelpy's observed co-occurrence matrix) with its z from novelpy's score matrix, \
{len(pz['z']):,} pairs,
  {_nulls(pz['z'])} with an undefined z.

Each file's `input` block holds the generator call, the sizes and a SHA-256 of the generated data as plain values
(record_novelpy.di1_fingerprint / refnovelty_fingerprint). The tests regenerate the data and assert the same block,
so a change to a generator fails loudly instead of comparing different data: then rerun the command above and
commit the new files.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=PEERS)
    ap.add_argument("--only", choices=("disruption", "refnovelty"), help="record one of the two (no SOURCE.md)")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    records = {}
    with tempfile.TemporaryDirectory(prefix="record_novelpy_") as tmp_name:
        tmp = Path(tmp_name)
        # novelpy prints progress bars; keep stdout for the summary only.
        with contextlib.redirect_stdout(sys.stderr):
            if args.only in (None, "disruption"):
                records[DI1_FILE] = record_di1(tmp)
            if args.only in (None, "refnovelty"):
                records[REFNOVELTY_FILE] = record_refnovelty(tmp)
    sizes = {}
    for name, record in records.items():
        (out / name).write_text(json.dumps(record, separators=(",", ":")) + "\n")
        sizes[name] = (out / name).stat().st_size
        print(f"{out / name}: {sizes[name]:,} bytes")
    if args.only is None:
        command = f"{sys.executable} benchmarks/record_novelpy.py" + ("" if out == PEERS else f" --out {out}")
        (out / "SOURCE.md").write_text(source_md(_versions(), command, sizes, records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
