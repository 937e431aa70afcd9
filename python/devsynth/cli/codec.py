"""``devsynth tokens encode`` (text to ids) and ``devsynth tokens decode`` (ids to text)."""

from __future__ import annotations

import argparse
import re
from typing import TextIO

import orjson

from devsynth.cli.inputs import read_source, single_source, sources_of
from devsynth.cli.options import UsageError, encode_input, encoding_of, special_options
from devsynth.cli.render import display, note
from devsynth.tokens.core import Encoding
from devsynth.tokens.files import FileIssue


def run_encode(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    enc = encoding_of(args)
    special_options(enc, args)  # usage errors before reading anything
    got = read_source(single_source(args), args.undecodable)
    if isinstance(got, FileIssue):
        note(err, got)
        return 1 if got.is_failure else 0
    tokens = encode_input(enc, args, got, err)
    if tokens is None:
        return 1
    if args.json:
        out.write(orjson.dumps(tokens).decode() + "\n")
    else:
        out.write(" ".join(map(str, tokens)) + "\n")
    out.flush()
    return 0


class BadIds(ValueError):
    """Input that is not a list of token ids of the encoding; the message names the bad one."""


_SEPARATORS = re.compile(r"[\s,]+")


def parse_ids(text: str) -> list[int]:
    """Ids separated by whitespace or commas, or a JSON array of ids."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            values = orjson.loads(stripped)
        except orjson.JSONDecodeError as e:
            raise BadIds(f"not a JSON array of token ids ({e})") from e
        if not isinstance(values, list):
            raise BadIds("not a JSON array of token ids")
        for k, v in enumerate(values, start=1):
            if isinstance(v, bool) or not isinstance(v, int):
                raise BadIds(f"{orjson.dumps(v).decode()} (id {k}) is not a token id")
        return values
    ids: list[int] = []
    for k, word in enumerate((w for w in _SEPARATORS.split(stripped) if w), start=1):
        if not re.fullmatch(r"[+-]?\d+", word, re.ASCII):
            raise BadIds(f"{word!r} (id {k}) is not a token id")
        ids.append(int(word))
    return ids


def decode_ids(enc: Encoding, ids: list[int]) -> bytes:
    """The bytes of ``ids``; BadIds naming the first id that is no token of ``enc``."""
    try:
        return enc.decode_bytes(ids)
    except (KeyError, OverflowError, ValueError):
        pass
    for k, token in enumerate(ids, start=1):
        try:
            if token < 0:
                raise KeyError(token)
            enc.decode_single_token_bytes(token)
        except (KeyError, OverflowError, ValueError):
            raise BadIds(f"{token} (id {k}) is not a token of {enc.name}") from None
    raise BadIds(f"the ids are not tokens of {enc.name}")  # pragma: no cover - found above


def run_decode(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    enc = encoding_of(args)
    if args.ids and args.file is not None:
        raise UsageError("give ids or --file, not both")
    if args.ids and args.ids != ["-"]:
        where, text = "", " ".join(args.ids)
    else:
        source = sources_of([], [args.file] if args.file is not None else ["-"])[0]
        got = read_source(source, "replace")
        if isinstance(got, FileIssue):
            note(err, got)
            return 1 if got.is_failure else 0
        where, text = f"{display(got.path)}: ", got.text
    try:
        data = decode_ids(enc, parse_ids(text))
    except BadIds as e:
        err.write(f"devsynth: {where}{e}\n")
        return 1
    if args.bytes:
        out.flush()
        out.buffer.write(data)
        out.buffer.flush()
        return 0
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError as e:
        decoded = data.decode("utf-8", "replace")
        err.write(
            f"devsynth: note: the tokens' bytes are not UTF-8 (first bad byte at offset "
            f"{e.start}); written with U+FFFD, --bytes writes them as they are\n"
        )
    out.write(decoded)
    if _is_terminal(out) and not decoded.endswith("\n"):
        out.write("\n")  # the prompt on its own line; piped output stays exact
    out.flush()
    return 0


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
