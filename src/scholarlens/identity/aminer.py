"""A lenient reader for the AMiner name-disambiguation XML files (one file per ambiguous name).

Format (data/aminer_name_disambiguation/SOURCE.md)::

    <person><FullName/><publication><title/><year/><authors/>(comma-separated)<jconf/>(venue)<id/><label/>
            <organization/> or <keyword/>(;-separated) <abstract/></publication>...</person>

Some files are not well-formed XML (a raw ``&``, HTML entities such as ``&aacute;``, control characters), so
the reader does not use an XML parser: it finds the ``<publication>`` blocks and their fields with regular
expressions and decodes entities with ``html.unescape``. What it cannot read it counts instead of failing:

- an *unreadable file*: it cannot be opened, or holds neither a ``<person>`` element nor any publication;
- an *unreadable publication*: a ``<publication>`` block cut off before its ``</publication>`` (the next block
  or the end of the file comes first), or one with neither a title nor authors;
- a *recovered file* (read, but counted): one that an XML parser rejects, or with bytes that are not UTF-8
  (replaced by U+FFFD); the lenient reader read it anyway;
- an *empty file* (counted): a ``<person>`` with no publication at all (7 of the 400 dblp files).

Each publication becomes a ``Mention`` of the file's name. ``publication_id`` is the file's ``<id>`` or, when
the file has none, the publication's position in the file (0-based, counting unreadable blocks, so positions
match the file). ``mention_id`` is ``<file stem>#<position>`` (``<folder>/<file stem>#<position>`` below the
folder when a folder is read). ``coauthors`` are the authors less the one that is the ambiguous name (the
author whose name is most compatible with it; the dblp files already leave it out). ``name`` is that author's
spelling in the paper when one is found, else the file's full name. ``label`` is the gold person label.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .cluster import Mention
from .names import compatibility, parse_name

__all__ = ["ReadCounts", "AminerReader", "read_aminer", "read_aminer_files"]

_PUBLICATION = re.compile(r"<publication>(.*?)(?=</publication>|<publication>|</person>|\Z)(</publication>)?", re.S)
_FULLNAME = re.compile(r"<FullName>(.*?)</FullName>", re.S)
_FIELDS = ("title", "year", "authors", "jconf", "id", "label", "organization", "keyword", "abstract")
_FIELD = {tag: re.compile(f"<{tag}>(.*?)</{tag}>", re.S) for tag in _FIELDS}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass
class ReadCounts:
    files: int = 0
    files_unreadable: int = 0
    files_recovered: int = 0  # not well-formed XML, read leniently
    files_empty: int = 0  # read, but without a single publication
    publications: int = 0
    publications_unreadable: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (where, why), one line per thing not read

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in
                ("files", "files_unreadable", "files_recovered", "files_empty", "publications", "publications_unreadable")}


def _text(value: str | None) -> str:
    if not value:
        return ""
    value = _CONTROL.sub(" ", value)
    return html.unescape(value).strip() if "&" in value else value.strip()


def _optional(value: str) -> str | None:
    return None if value.lower() in ("", "null", "none") else value


def _well_formed(raw: str) -> bool:
    try:
        ET.fromstring(raw.encode("utf-8"))
        return True
    except ET.ParseError:
        return False


class AminerReader:
    """Iterate over the mentions of one file or of every ``*.xml`` below a folder (sorted, recursive);
    ``counts`` fills in as it goes. ``files()`` groups the mentions by file (one ambiguous name each)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.counts = ReadCounts()

    def _paths(self) -> list[tuple[Path, str]]:
        if self.path.is_dir():
            return [(p, p.relative_to(self.path).with_suffix("").as_posix()) for p in sorted(self.path.rglob("*.xml"))]
        return [(self.path, self.path.stem)]

    def files(self) -> Iterator[tuple[str, str, list[Mention]]]:
        """(file key, full name, mentions) per readable file."""
        for path, key in self._paths():
            self.counts.files += 1
            try:
                data = path.read_bytes()
            except OSError as err:
                self._unreadable_file(path, f"cannot read: {err}")
                continue
            try:
                raw, clean = data.decode("utf-8"), True
            except UnicodeDecodeError:
                raw, clean = data.decode("utf-8", errors="replace"), False
            found = _FULLNAME.search(raw)
            blocks = list(_PUBLICATION.finditer(raw))
            if "<person" not in raw and not blocks:
                self._unreadable_file(path, "neither <person> nor <publication>: not an AMiner name file")
                continue
            if not blocks:
                self.counts.files_empty += 1
                continue
            if not clean or not _well_formed(raw):
                self.counts.files_recovered += 1
            full_name = _text(found.group(1)) if found else key.rsplit("/", 1)[-1].replace("_", " ")
            full_name = _text(full_name)
            mentions = []
            for position, block in enumerate(blocks):
                mention = self._mention(path, key, full_name, position, block)
                if mention is not None:
                    mentions.append(mention)
            yield key, full_name, mentions

    def __iter__(self) -> Iterator[Mention]:
        for _, _, mentions in self.files():
            yield from mentions

    def _unreadable_file(self, path: Path, why: str) -> None:
        self.counts.files_unreadable += 1
        self.counts.problems.append((str(path), why))

    def _mention(self, path: Path, key: str, full_name: str, position: int, block: re.Match) -> Mention | None:
        self.counts.publications += 1
        body = block.group(1)
        where = f"{path}#{position}"
        if block.group(2) is None:
            return self._unreadable_publication(where, "cut off before </publication>")
        values = {}
        for tag, pattern in _FIELD.items():
            found = pattern.search(body)
            values[tag] = _text(found.group(1)) if found else ""
        authors = [a.strip() for a in values["authors"].split(",") if a.strip()]
        if not values["title"] and not authors:
            return self._unreadable_publication(where, "neither title nor authors")
        name, coauthors = full_name, authors
        if authors:
            target = parse_name(full_name)
            grades = [compatibility(a, target) for a in authors]
            best = max(range(len(authors)), key=lambda i: grades[i])
            if grades[best] > 0:
                name = authors[best]
                coauthors = authors[:best] + authors[best + 1:]
        year = values["year"]
        keywords = tuple(k.strip() for k in values["keyword"].split(";") if k.strip())
        return Mention(
            mention_id=f"{key}#{position}",
            name=name,
            coauthors=tuple(coauthors),
            organisation=_optional(values["organization"]),
            venue=_optional(values["jconf"]),
            year=int(year) if year.isdigit() and int(year) > 0 else None,
            title=values["title"] or None,
            text=_optional(values["abstract"]),
            keywords=keywords,
            publication_id=values["id"] or str(position),
            label=values["label"] or None,
            group=key,
        )

    def _unreadable_publication(self, where: str, why: str) -> None:
        self.counts.publications_unreadable += 1
        self.counts.problems.append((where, why))
        return None


def read_aminer(path: str | Path) -> tuple[list[Mention], ReadCounts]:
    """Every mention in a file or a folder, and the counts of what was read and what could not be."""
    reader = AminerReader(path)
    mentions = list(reader)
    return mentions, reader.counts


def read_aminer_files(path: str | Path) -> tuple[list[tuple[str, str, list[Mention]]], ReadCounts]:
    """[(file key, full name, mentions)] per readable file, and the counts."""
    reader = AminerReader(path)
    files = list(reader.files())
    return files, reader.counts
