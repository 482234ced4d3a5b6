"""Author names: parsing, normalisation, compatibility and blocking keys.

A name is parsed once (``parse_name``, cached) into a normalised surname and a tuple of given-name parts:
HTML entities are decoded (``Gonz&aacute;lez``), every script is transliterated to ASCII with ``unidecode``
(``Gödel`` -> ``godel``, ``王伟`` -> ``wang wei``), case and punctuation are dropped, and ``nameparser`` splits
"First Middle Last", "Last, First", titles ("Dr.") and suffixes ("Jr."). Hyphenated given names are split into
parts (``Jian-Ping`` -> ``jian``, ``ping``) so that their initials count (``J. P.``), while the full forms still
compare equal whatever the spacing (``Jianping`` = ``Jian Ping`` = ``Jian-Ping``).

Compatibility (``compatibility``) grades two names of possibly the same person:
  1.0 same surname and the same full given names; 0.8 same surname, the given names agree as far as both go
  (a middle name missing on one side); 0.6 they agree only through initials (``J. Guo`` / ``Jie Guo``);
  0.5 the same two full words in swapped order (``Zhang Wei`` / ``Wei Zhang``); 0.0 incompatible
  (different surnames, different full given names, conflicting initials). The engine never puts two
  incompatible names in one person.

Blocking key (``block_key``): ``surname|first initial`` (``gupta|a``); a name without a given name has the key
``surname|``. Every pair of compatible names except swapped-order ones shares the key; the engine joins the
blocks of two keys when an exact swapped full name appears in the data (see ``cluster.blocks``).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache

from nameparser import HumanName
from unidecode import unidecode

__all__ = [
    "ParsedName", "normalise", "parse_name", "compatibility", "compatible", "block_key", "coauthor_key",
    "coauthor_keys", "swapped_key", "fold_surname", "common_surname", "COMMON_SURNAMES",
]

_NON_LETTER = re.compile(r"[^a-z\s\-']+")
_SPACES = re.compile(r"\s+")
# Particles that belong to the surname ("van Beethoven", "de la Cruz") are kept in it, without spaces.
_SURNAME_GLUE = re.compile(r"[\s\-']+")


def normalise(text: str | None) -> str:
    """ASCII, lower case, letters, spaces, hyphens and apostrophes only; entities decoded; spaces collapsed."""
    if not text:
        return ""
    if "&" in text:
        text = html.unescape(text)
    if not text.isascii():
        text = unidecode(text)
    text = text.lower().replace(".", ". ")
    return _SPACES.sub(" ", _NON_LETTER.sub(" ", text)).strip()


@dataclass(frozen=True, slots=True)
class ParsedName:
    """A name reduced to what identity needs. ``given`` holds the given-name parts, each a full word or an
    initial (one letter); ``surname`` has no spaces or hyphens (``delacruz``)."""

    surname: str
    given: tuple[str, ...]

    @property
    def initials(self) -> str:
        return "".join(p[0] for p in self.given)

    @property
    def first_initial(self) -> str:
        return self.given[0][0] if self.given else ""

    @property
    def full_given(self) -> str:
        """Given names as one string when they are all full words (``jianping``), else ''."""
        if self.given and all(len(p) > 1 for p in self.given):
            return "".join(self.given)
        return ""

    @property
    def is_full(self) -> bool:
        """The first given name is written out (not only an initial)."""
        return bool(self.given) and len(self.given[0]) > 1


_TITLES = frozenset(t.lower() for t in ("dr", "prof", "professor", "mr", "mrs", "ms", "sir", "dame"))
_UMLAUT_SPELLING = re.compile(r"([aou])e")


def fold_surname(surname: str) -> str:
    """German umlaut spellings fold to their transliteration (``mueller`` -> ``muller``, as ``Müller`` reads)."""
    return _UMLAUT_SPELLING.sub(r"\1", surname) if "e" in surname else surname


def _given_parts(text: str) -> tuple[str, ...]:
    parts = []
    for word in re.split(r"[\s\-]+", text.replace("'", "")):
        if word:
            parts.append(word)
    return tuple(parts)


@lru_cache(maxsize=1 << 18)
def parse_name(name: str | None) -> ParsedName:
    """Parse and normalise one author name (cached: names repeat across mentions)."""
    if not name:
        return ParsedName("", ())
    raw = html.unescape(name) if "&" in name else name
    if not raw.isascii():
        raw = unidecode(raw)
    raw = _SPACES.sub(" ", raw).strip()
    if not raw:
        return ParsedName("", ())
    words = raw.replace(",", " , ").split()
    if "," not in raw and len(words) == 2 and words[0].lower().rstrip(".") not in _TITLES:
        first, middle, last = words[0], "", words[1]  # the common case, without nameparser's cost
    else:
        human = HumanName(raw)
        last, first, middle = human.last, human.first, human.middle
        # nameparser reads capitalised given names such as "Bin" or "Van" as surname particles
        # ("Yu Bin Wang" -> last "Bin Wang"); real particles are lower case ("van Beethoven", "de la Cruz")
        last_words = last.split()
        if "," not in raw and len(last_words) > 1 and last_words[0][:1].isupper():
            middle, last = f"{middle} {' '.join(last_words[:-1])}".strip(), last_words[-1]
    if not last and first:  # a single word: treat it as the surname
        last, first = first, ""
    surname = fold_surname(_SURNAME_GLUE.sub("", normalise(last)))
    given = _given_parts(normalise(f"{first} {middle}"))
    # "WANG Xiaoming" / "Smith J" style: a lone initial written after the surname
    if not given and " " in normalise(raw):
        words = normalise(raw).split()
        if len(words) == 2 and len(words[1]) == 1:
            surname, given = fold_surname(_SURNAME_GLUE.sub("", words[0])), (words[1],)
    return ParsedName(surname, given)


def _given_match(a: tuple[str, ...], b: tuple[str, ...], pending: bool = False) -> int:
    """How two given-name sequences agree: 3 identical, 2 agree with a part missing on one side,
    1 agree through initials, 0 conflict. ``pending``: the head of ``a`` is the rest of a split word and
    must be matched by something."""
    if not a or not b:
        if pending and (a or b):
            return 0
        return 3 if not a and not b else 2
    x, y = a[0], b[0]
    if x == y:
        return _given_match(a[1:], b[1:])
    if len(x) == 1 or len(y) == 1:
        if x[0] != y[0]:
            return 0
        return min(1, _given_match(a[1:], b[1:]))
    # two different full words: one may be the other written without a space ("jianping" / "jian ping")
    if x.startswith(y):
        return _given_match((x[len(y):],) + a[1:], b[1:], pending=True)
    if y.startswith(x):
        return _given_match((y[len(x):],) + b[1:], a[1:], pending=True)
    return 0


def compatibility(a: str | ParsedName, b: str | ParsedName) -> float:
    """1.0 same full name, 0.8 agree with a part missing, 0.6 agree through initials, 0.5 same two words in
    swapped order, 0.0 incompatible. See the module docstring."""
    pa = a if isinstance(a, ParsedName) else parse_name(a)
    pb = b if isinstance(b, ParsedName) else parse_name(b)
    if not pa.surname or not pb.surname:
        return 0.0
    if pa.surname == pb.surname:
        if not pa.given or not pb.given:
            return 0.6
        level = _given_match(pa.given, pb.given)
        return (0.0, 0.6, 0.8, 1.0)[level]
    if _swapped(pa, pb):
        return 0.5
    return 0.0


def _swapped(pa: ParsedName, pb: ParsedName) -> bool:
    return bool(pa.full_given and pb.full_given and pa.full_given == pb.surname and pb.full_given == pa.surname)


def compatible(a: str | ParsedName, b: str | ParsedName) -> bool:
    return compatibility(a, b) > 0.0


def block_key(name: str | ParsedName) -> str:
    """``surname|first initial``: compatible names (other than swapped-order ones) share it."""
    p = name if isinstance(name, ParsedName) else parse_name(name)
    return f"{p.surname}|{p.first_initial}"


def swapped_key(name: str | ParsedName) -> str | None:
    """The block key the same two words would have in the other order (``Wei Zhang`` -> ``wei|z``), for a
    name with one full given word; else None."""
    p = name if isinstance(name, ParsedName) else parse_name(name)
    if len(p.given) == 1 and len(p.given[0]) > 1:
        return f"{p.given[0]}|{p.surname[0]}"
    return None


@lru_cache(maxsize=1 << 20)
def coauthor_keys(name: str) -> tuple[str, str]:
    """Two cheap co-author keys, without nameparser (co-author lists hold millions of names): the full key,
    ``first name + surname`` when the first name is written out (``maria gini``; ``jianping wang`` for
    Jian-Ping Wang), else the initial key; and the initial key ``first initial + surname`` (``m gini``)."""
    if not name:
        return "", ""
    if "," in name:  # "Gini, Maria"
        last, _, first = name.partition(",")
        words = normalise(first).split() + [normalise(last).replace(" ", "")]
    else:
        words = normalise(name).split()
    if not words:
        return "", ""
    if len(words) == 1:
        key = words[0].replace("-", "")
        return key, key
    surname = words[-1].replace("-", "")
    initial = f"{words[0][0]} {surname}"
    first = words[0].replace("-", "")
    return (f"{first} {surname}" if len(first) > 1 else initial), initial


def coauthor_key(name: str) -> str:
    """The initial key of ``coauthor_keys`` (``m gini`` for Maria L. Gini and M. Gini)."""
    return coauthor_keys(name)[1]


# The most common Chinese (pinyin), Korean and Vietnamese surnames: names that many authors share, so a block of
# such a name is more likely to hold several persons (a prior the pair scorer reads as ``block_common``).
COMMON_SURNAMES = frozenset(fold_surname(w) for w in """
    wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin gao luo zheng liang xie song tang
    han feng deng cao peng zeng xiao tian dong pan yuan cai jiang yu du ye cheng wei su lu ding ren shen yao jin
    fu zhong qian qiu dai xue fan hou bai cui kong mao qin shi lai gu wan duan lei hao yan tan jia fang zou xiong
    meng qin bao tao mo gong kang shao wen niu hong chang qi hua xing
    kim lee park choi jung jeong kang cho yoon jang lim shin han oh seo kwon hwang ahn song yoo hong jeon ko moon
    nguyen tran le pham hoang huynh phan vu vo dang bui do ho ngo duong ly
""".split())


def common_surname(name: str | ParsedName) -> bool:
    """Whether the surname is one of COMMON_SURNAMES."""
    p = name if isinstance(name, ParsedName) else parse_name(name)
    return p.surname in COMMON_SURNAMES
