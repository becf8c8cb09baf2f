"""Errors that medthreat reports to its users.

Every error names where the problem is (file, line and the path of the offending entry) and what
was expected, so the command line can print it as one paragraph and exit with status 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CatalogError",
    "DecisionsError",
    "MedthreatError",
    "ModelError",
    "PolicyError",
    "Problem",
    "describe_type",
    "describe_value",
    "format_path",
    "shorten",
]

_MAX_SHOWN = 25
# Characters of one problem's path and message shown: a hostile or mistaken file can hold a
# key or value of megabytes, and an error quoting it whole is no longer readable.
_MAX_PATH_CHARS = 160
_MAX_MESSAGE_CHARS = 400


def _clip(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, saying how long it was.

    The start and the end are kept: a message quotes the value in the middle and says what
    was expected at the end.
    """
    if len(text) <= limit:
        return text
    tail = limit * 2 // 5
    return f"{text[:limit - tail]} … ({len(text):,} characters in all) … {text[-tail:]}"


def shorten(value: object, limit: int = 200) -> str:
    """``str(value)`` cut to about ``limit`` characters, for messages that quote the input."""
    return _clip(str(value), limit)


def format_path(path: Sequence[str | int]) -> str:
    """Render a path such as ``("components", 3, "type")`` as ``components[3].type``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe_value(value: Any) -> str:
    """What kind of value a user wrote, in words: "a boolean", "a number", "text", "a list"..."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


_TYPE_WORDS = {"bool": "a boolean (true/false)", "int": "a number", "str": "text"}


def describe_type(name: str) -> str:
    """An attribute type (bool, int, str) in words."""
    return _TYPE_WORDS.get(name, name)


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in an input file: where it is and what was expected."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.file and self.line is not None:
            where += f":{self.line}"
        if self.path:
            path = _clip(self.path, _MAX_PATH_CHARS)
            where = f"{where}: {path}" if where else path
        message = _clip(self.message, _MAX_MESSAGE_CHARS)
        return f"{where}: {message}" if where else message


class MedthreatError(Exception):
    """Base class of the errors medthreat raises for bad input."""

    def __init__(self, problems: Iterable[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem("", None, "", problems)]
        self.problems: list[Problem] = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        """All problems, one per line, capped so a broken file does not flood the terminal."""
        shown = [str(p) for p in self.problems[:_MAX_SHOWN]]
        rest = len(self.problems) - len(shown)
        if rest > 0:
            shown.append(f"... and {rest} more problem(s)")
        return "\n".join(shown)


class ModelError(MedthreatError):
    """A model file or builder model is malformed or inconsistent with the catalog."""


class CatalogError(MedthreatError):
    """A catalog file is malformed or its entries do not fit together."""


class PolicyError(MedthreatError):
    """A risk policy file is malformed or inconsistent, or a lookup names no known level."""


class DecisionsError(MedthreatError):
    """A decisions file is malformed, or a decision breaks the justification rule."""
