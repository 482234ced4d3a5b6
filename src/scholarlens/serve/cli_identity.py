"""`scholarlens correct ...` and `scholarlens disambiguate`: who wrote what, from the command line."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .cli import _open, app, console, err, fail

correct_app = typer.Typer(
    help="Correct who wrote what. Corrections survive every re-ingest and rebuild; each is audited (who, when, why).",
    no_args_is_help=True,
)
app.add_typer(correct_app, name="correct")

WHO = typer.Option(None, "--who", help="Who makes the correction (default: your login name).")
WHY = typer.Option(..., "--why", help="Why: shown in the audit trail and on the profile.")


def _record(kind: str, subject: str, target: str, who: Optional[str], why: str) -> None:
    from ..analytics.build import analyse
    from ..identity.corrections import CorrectionError, add_correction

    con = _open()
    try:
        cid = add_correction(con, kind, subject, target, who=who or getpass.getuser(), why=why)
    except CorrectionError as exc:
        fail(str(exc))
    console.print(f"correction #{cid} recorded: {kind} {subject} {target}")
    analyse(con)  # the profile shows it at once, not at the next build
    console.print("analytics rebuilt")


@correct_app.command("merge")
def merge(subject: str, other: str, who: Optional[str] = WHO, why: str = WHY) -> None:
    """Two ids are one person. Example: scholarlens correct merge openalex:A1 s2author:2 --why "same ORCID on CV\""""
    _record("merge", subject, other, who, why)


@correct_app.command("split")
def split(subject: str, other: str, who: Optional[str] = WHO, why: str = WHY) -> None:
    """Two ids are different people, whatever the evidence says."""
    _record("split", subject, other, who, why)


@correct_app.command("add-work")
def add_work(subject: str, work: str, who: Optional[str] = WHO, why: str = WHY) -> None:
    """"This is mine": a work (doi:, arxiv:, openalex:W... key) belongs to the person."""
    _record("add-work", subject, work, who, why)


@correct_app.command("remove-work")
def remove_work(subject: str, work: str, who: Optional[str] = WHO, why: str = WHY) -> None:
    """"Not my paper": the person's name on that work is someone else."""
    _record("remove-work", subject, work, who, why)


@correct_app.command("claim")
def claim(subject: str, orcid: str, who: Optional[str] = WHO, why: str = WHY) -> None:
    """Link a person to their ORCID; works carrying that ORCID join them now and in later ingests."""
    _record("claim", subject, orcid, who, why)


@correct_app.command("revoke")
def revoke(correction_id: int, who: Optional[str] = WHO) -> None:
    """Withdraw a correction (it stays in the audit trail, marked revoked)."""
    from ..analytics.build import analyse
    from ..identity.corrections import CorrectionError, revoke_correction

    con = _open()
    try:
        revoke_correction(con, correction_id, who=who or getpass.getuser())
    except CorrectionError as exc:
        fail(str(exc))
    analyse(con)
    console.print(f"correction #{correction_id} revoked; analytics rebuilt")


@correct_app.command("list")
def list_(author: Optional[str] = typer.Argument(None, help="Only corrections about this author or person id.")) -> None:
    """The audit trail: every correction, active or revoked."""
    from ..identity.corrections import list_corrections
    from ..store import queries

    con = _open(read_only=True)
    ids = None
    if author:
        pid = queries.person_of(con, author) if queries._has_table(con, "persons") else None
        if pid is None:
            fail(f"no author or person with id {author!r}")
        ids = list(queries._one(con, "SELECT correction_ids FROM persons WHERE person_id = ?", [pid])[0] or [])
    table = Table("#", "kind", "subject", "target", "who", "when", "why", "revoked")
    for c in list_corrections(con, ids):
        table.add_row(str(c["id"]), c["kind"], c["subject"], c["target"], c["who"], c["made_at"], c["why"],
                      f"{c['revoked_at']} by {c['revoked_by']}" if c["revoked_at"] else "")
    console.print(table)


@app.command()
def disambiguate(
    input: Path = typer.Option(..., "--input", "-i", help="An AMiner name-disambiguation XML file, or a folder of them."),
    output: Path = typer.Option(..., "--output", "-o", help="JSON Lines: name, publication_id, cluster_id."),
) -> None:
    """Group the publications of ambiguous names into persons.

    Example: scholarlens disambiguate --input data/aminer_name_disambiguation/labeled_names --output clusters.jsonl
    """
    if not input.exists():
        fail(f"no such file or folder: {input}")
    from ..identity.cluster import disambiguate_path, write_clusters_jsonl

    rows = disambiguate_path(input)
    try:
        n = write_clusters_jsonl(output, rows)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    counts = rows.counts.as_dict()
    console.print(f"wrote {n} lines to {output} ({counts['files']} files, {counts['publications']} publications)")
    if counts["files_unreadable"] or counts["publications_unreadable"] or counts["files_recovered"]:
        err.print(f"[yellow]{counts['files_unreadable']} file(s) and {counts['publications_unreadable']} publication(s) "
                  f"could not be read; {counts['files_recovered']} file(s) were not well-formed XML and were read leniently[/]")
