"""TOML reading: the standard library's ``tomllib`` (3.11+), else a small subset parser.

The subset covers what a project configuration needs: comments, ``[table]`` and
``[dotted.table]`` headers, ``key = value`` with bare, quoted or dotted keys, and values that
are strings (basic with escapes, or literal), integers, floats, booleans and one-line arrays
of those. Anything else (inline tables, multi-line strings, dates) is a ConfigurationError
naming the line, so a file never half-loads on Python 3.10.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from devsynth.domain.errors import ConfigurationError

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_INTEGER = re.compile(r"[+-]?(?:0|[1-9](?:_?[0-9])*)")
_FLOAT = re.compile(r"[+-]?(?:0|[1-9](?:_?[0-9])*)(?:\.[0-9](?:_?[0-9])*)?(?:[eE][+-]?[0-9]+)?")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def loads(text: str) -> dict[str, Any]:
    """Parse TOML text; errors are ConfigurationError."""
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"invalid TOML: {exc}") from None
    return loads_subset(text)


def loads_subset(text: str) -> dict[str, Any]:
    """The fallback parser (public so it is tested on every Python)."""
    root: dict[str, Any] = {}
    table = root
    for number, raw in enumerate(text.splitlines(), start=1):
        parser = _Line(raw, number)
        parser.skip_space()
        if parser.at_end():
            continue
        if parser.peek() == "[":
            parser.expect("[")
            if parser.peek() == "[":
                raise parser.error("arrays of tables are not supported on Python 3.10")
            keys = parser.keys("]")
            parser.expect("]")
            parser.finish()
            table = _descend(root, keys, parser, new=True)
            continue
        keys = parser.keys("=")
        parser.expect("=")
        value = parser.value()
        parser.finish()
        target = _descend(table, keys[:-1], parser, new=False)
        if keys[-1] in target:
            raise parser.error(f"key {keys[-1]!r} defined twice")
        target[keys[-1]] = value
    return root


def _descend(table: dict[str, Any], keys: list[str], line: _Line, new: bool) -> dict[str, Any]:
    for key in keys:
        child = table.setdefault(key, {})
        if not isinstance(child, dict):
            raise line.error(f"{key!r} is not a table")
        table = child
    return table


class _Line:
    def __init__(self, text: str, number: int) -> None:
        self.text = text
        self.number = number
        self.pos = 0

    def error(self, what: str) -> ConfigurationError:
        return ConfigurationError(f"TOML line {self.number}: {what}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def at_end(self) -> bool:
        return self.pos >= len(self.text) or self.text[self.pos] == "#"

    def skip_space(self) -> None:
        while self.peek() in (" ", "\t") and self.peek():
            self.pos += 1

    def expect(self, char: str) -> None:
        self.skip_space()
        if self.peek() != char:
            raise self.error(f"expected {char!r}")
        self.pos += 1
        self.skip_space()

    def finish(self) -> None:
        self.skip_space()
        if not self.at_end():
            raise self.error(f"unexpected {self.text[self.pos :]!r}")

    def keys(self, stop: str) -> list[str]:
        keys = [self.key()]
        self.skip_space()
        while self.peek() == ".":
            self.pos += 1
            self.skip_space()
            keys.append(self.key())
            self.skip_space()
        if self.peek() != stop:
            raise self.error(f"expected {stop!r}")
        return keys

    def key(self) -> str:
        if self.peek() in ('"', "'"):
            return self.string()
        match = _BARE_KEY.match(self.text, self.pos)
        if not match:
            raise self.error("expected a key")
        self.pos = match.end()
        return match.group()

    def value(self) -> Any:
        char = self.peek()
        if char in ('"', "'"):
            if self.text.startswith(char * 3, self.pos):
                raise self.error("multi-line strings are not supported on Python 3.10")
            return self.string()
        if char == "[":
            return self.array()
        if char == "{":
            raise self.error("inline tables are not supported on Python 3.10")
        for word, result in (("true", True), ("false", False)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return result
        return self.number_value()

    def number_value(self) -> int | float:
        integer = _INTEGER.match(self.text, self.pos)
        number = _FLOAT.match(self.text, self.pos)
        if number and number.end() > (integer.end() if integer else -1):
            self.pos = number.end()
            return float(number.group().replace("_", ""))
        if integer:
            self.pos = integer.end()
            return int(integer.group().replace("_", ""))
        raise self.error(f"cannot read a value from {self.text[self.pos :]!r}")

    def array(self) -> list[Any]:
        self.expect("[")
        items: list[Any] = []
        while self.peek() != "]":
            if not self.peek():
                raise self.error("an array must close on its line on Python 3.10")
            items.append(self.value())
            self.skip_space()
            if self.peek() == ",":
                self.pos += 1
                self.skip_space()
            elif self.peek() != "]":
                raise self.error("expected ',' or ']'")
        self.pos += 1
        return items

    def string(self) -> str:
        quote = self.peek()
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise self.error("unterminated string")
            char = self.text[self.pos]
            self.pos += 1
            if char == quote:
                return "".join(out)
            if char == "\\" and quote == '"':
                out.append(self.escape())
            else:
                out.append(char)

    def escape(self) -> str:
        char = self.text[self.pos : self.pos + 1]
        self.pos += 1
        if char in _ESCAPES:
            return _ESCAPES[char]
        if char in ("u", "U"):
            width = 4 if char == "u" else 8
            digits = self.text[self.pos : self.pos + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise self.error("bad unicode escape")
            self.pos += width
            return chr(int(digits, 16))
        raise self.error(f"unknown escape \\{char}")


__all__ = ["loads", "loads_subset"]
