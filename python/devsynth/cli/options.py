"""What the commands share after parsing: the encoding picked by ``--encoding``/``--model``,
the special-token options, and the error that means a usage error (exit 2)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Literal, TextIO

from devsynth.cli.render import display
from devsynth.tokens.core import Encoding
from devsynth.tokens.files import FileText

SpecialSet = Literal["all"] | frozenset[str]
ColumnKind = Literal["encoding", "model"]


class UsageError(Exception):
    """Bad arguments found after parsing (an unknown encoding, an invalid glob): exit 2."""


def pick_encoding(encoding: str | None, model: str | None) -> Encoding:
    """The encoding of ``model``, else the one named (default o200k_base); UsageError when
    unknown."""
    from devsynth.domain.errors import UnknownEncodingError, UnknownModelError
    from devsynth.tokens import encoding_for_model, get_encoding, list_encoding_names

    if model is not None:
        try:
            return encoding_for_model(model)
        except UnknownModelError as e:
            raise UsageError(
                f"no known encoding for model {model!r}; pick one with --encoding "
                f"(one of {', '.join(list_encoding_names())})"
            ) from e
    try:
        # An empty name is a mistake, not a request for the default.
        return get_encoding("o200k_base" if encoding is None else encoding)
    except (UnknownEncodingError, KeyError, ValueError) as e:
        raise UsageError(str(e).strip("'\"")) from e


def encoding_of(args: argparse.Namespace) -> Encoding:
    """The encoding of ``--model`` or ``--encoding``."""
    return pick_encoding(args.encoding, args.model)


def _special_set(enc: Encoding, values: Sequence[str], option: str) -> SpecialSet:
    """``all``, ``none``, or special-token names (repeated or comma-separated)."""
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if names == ["all"]:
        return "all"
    if names == ["none"]:
        return frozenset()
    unknown = [n for n in names if n not in enc.special_tokens_set]
    if unknown:
        known = ", ".join(sorted(enc.special_tokens_set)) or "none"
        raise UsageError(
            f"{option}: {unknown[0]!r} is not a special token of {enc.name} "
            f"(its special tokens: {known}; or give 'all' or 'none')"
        )
    return frozenset(names)


def special_options(enc: Encoding, args: argparse.Namespace) -> tuple[SpecialSet, SpecialSet]:
    """``allowed_special`` and ``disallowed_special`` for :meth:`Encoding.encode`, from
    ``--allowed-special`` (default none) and ``--disallowed-special`` (default all)."""
    allowed = _special_set(enc, args.allowed_special or ["none"], "--allowed-special")
    disallowed = _special_set(enc, args.disallowed_special or ["all"], "--disallowed-special")
    return allowed, disallowed


def refused_special(enc: Encoding, text: str, allowed: SpecialSet, disallowed: SpecialSet) -> str:
    """The first special token spelled in ``text`` that encode() refuses."""
    if disallowed == "all":
        refused = enc.special_tokens_set - (enc.special_tokens_set if allowed == "all" else allowed)
    else:
        refused = disallowed
    found = sorted((text.find(name), name) for name in refused if name in text)
    return found[0][1] if found else "?"


def encode_input(
    enc: Encoding, args: argparse.Namespace, text: FileText, err: TextIO
) -> list[int] | None:
    """The tokens of an input, with the special-token options; None (and one line on ``err``)
    when the text spells a special token that is not allowed."""
    allowed, disallowed = special_options(enc, args)
    try:
        return enc.encode(text.text, allowed_special=allowed, disallowed_special=disallowed)
    except ValueError:
        name = refused_special(enc, text.text, allowed, disallowed)
        err.write(
            f"devsynth: {display(text.path)}: the text spells the special token {name!r}; "
            f"--allowed-special {name!r} (or all) encodes it as that token, "
            "--disallowed-special none as ordinary text\n"
        )
        return None
