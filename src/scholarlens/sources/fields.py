"""Small JSON field readers shared by the source readers (OpenAlex, Semantic Scholar, S2AG).

Each getter reads one key of a parsed JSON object and refuses the wrong type with ``Unreadable`` instead of
guessing; a missing key or ``null`` is "not there" (None, or an empty object or list). Where a source is
more lenient on purpose, the getter takes a keyword for it, which the source's reader passes explicitly.
"""

from __future__ import annotations

import json

RAW_LIMIT = 2000  # characters of an unreadable object kept with its Quarantined record


class Unreadable(ValueError):
    """A record whose shape is not what its source sends (a title that is a number, a missing id, ...)."""


def get_text(obj: dict, key: str, *, strip: bool = False) -> str | None:
    """Text, with "" as None; ``strip`` also trims it, so blank text is None too."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return (value.strip() if strip else value) or None
    raise Unreadable(f"{key} is not text: {value!r}"[:200])


def get_int(obj: dict, key: str, *, integral_float: bool = False, digit_text: bool = False) -> int | None:
    """A whole number. ``integral_float`` also takes a float with nothing after the point (5.0);
    ``digit_text`` also takes a string of digits ("123"). Booleans never count."""
    value = obj.get(key)
    if value is None:
        return None
    if digit_text and isinstance(value, str) and value.isdigit():
        return int(value)
    types = (int, float) if integral_float else int
    if isinstance(value, bool) or not isinstance(value, types) or value != int(value):
        raise Unreadable(f"{key} is not a whole number: {value!r}"[:200])
    return int(value)


def get_number(obj: dict, key: str) -> float | None:
    """Any JSON number, as a float. Booleans never count."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unreadable(f"{key} is not a number: {value!r}"[:200])
    return float(value)


def get_dict(obj: dict, key: str) -> dict:
    """An object; {} when it is not there."""
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Unreadable(f"{key} is not an object")
    return value


def get_list(obj: dict, key: str) -> list:
    """A list; [] when it is not there."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Unreadable(f"{key} is not a list")
    return value


def raw_json(obj, limit: int = RAW_LIMIT) -> str:
    """The object as JSON (its repr when it is not JSON), cut to ``limit``: what a Quarantined record keeps."""
    try:
        return json.dumps(obj, ensure_ascii=False)[:limit]
    except (TypeError, ValueError):
        return repr(obj)[:limit]
