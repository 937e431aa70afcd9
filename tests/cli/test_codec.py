"""`devsynth tokens encode` and `decode`: ids as tiktoken gives them, special tokens as in the
Python API, errors that name the bad id."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devsynth.tokens import get_encoding
from tests.support.cli import Cli, run_process
from tests.support.reference import tiktoken_encoding

TEXT = "Tokens, exactly: héllo wörld 🫠 火山\n\tindented"


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base", "p50k_base", "r50k_base"])
def test_encode_writes_tiktokens_ids_space_separated_or_as_json(cli: Cli, name: str) -> None:
    expected = tiktoken_encoding(name).encode(TEXT)
    r = cli("tokens", "encode", "--encoding", name, TEXT)
    assert r.status == 0 and r.err == ""
    assert r.out == " ".join(map(str, expected)) + "\n"
    assert json.loads(cli("tokens", "encode", "--encoding", name, "--json", TEXT).out) == expected


def test_encode_reads_files_and_stdin_exactly(cli: Cli, tmp_path: Path) -> None:
    f = tmp_path / "t.txt"
    f.write_bytes(TEXT.encode() + b"\n")
    expected = get_encoding("o200k_base").encode(TEXT + "\n")
    assert (
        cli("tokens", "encode", "--json", "-f", str(f)).out
        == json.dumps(expected).replace(" ", "") + "\n"
    )
    assert json.loads(cli("tokens", "encode", "--json", stdin=TEXT.encode() + b"\n").out) == (
        expected
    )
    assert cli("tokens", "encode", "--model", "gpt-4", "hello world").out == "15339 1917\n"
    assert cli("tokens", "encode", "").out == "\n"


EOT, EOP = "<|endoftext|>", "<|endofprompt|>"
SPECIAL_TEXT = f"a{EOT}b{EOP}"


@pytest.mark.parametrize(
    ("options", "allowed", "disallowed"),
    [
        (["--allowed-special", "all"], "all", "all"),
        (["--allowed-special", EOT, "--disallowed-special", "none"], {EOT}, ()),
        (["--allowed-special", f"{EOT},{EOP}"], {EOT, EOP}, "all"),
        (["--allowed-special", EOT, "--allowed-special", EOP], {EOT, EOP}, "all"),
        (["--disallowed-special", "none"], set(), ()),
    ],
)
def test_special_token_options_mean_what_the_python_arguments_mean(
    cli: Cli, options: list[str], allowed: object, disallowed: object
) -> None:
    expected = tiktoken_encoding("o200k_base").encode(
        SPECIAL_TEXT,
        allowed_special=allowed,  # type: ignore[arg-type]
        disallowed_special=disallowed,  # type: ignore[arg-type]
    )
    r = cli("tokens", "encode", "--json", *options, SPECIAL_TEXT)
    assert r.status == 0, r.err
    assert json.loads(r.out) == expected


def test_a_refused_special_token_is_named_in_one_line(cli: Cli) -> None:
    r = cli("tokens", "encode", "--allowed-special", "<|endoftext|>", SPECIAL_TEXT)
    assert r.status == 1 and r.out == ""
    assert r.err.count("\n") == 1
    assert "the special token '<|endofprompt|>'" in r.err
    unknown = cli("tokens", "encode", "--allowed-special", "<|nope|>", "x")
    assert unknown.status == 2
    assert unknown.err.startswith("devsynth: error: --allowed-special: '<|nope|>' is not a special")


def test_decode_reads_ids_from_arguments_stdin_files_and_json(cli: Cli, tmp_path: Path) -> None:
    ids = get_encoding("o200k_base").encode(TEXT)
    words = list(map(str, ids))
    assert cli("tokens", "decode", *words).out == TEXT
    assert cli("tokens", "decode", stdin=" ".join(words).encode()).out == TEXT
    assert cli("tokens", "decode", "-", stdin="\n".join(words).encode()).out == TEXT
    assert cli("tokens", "decode", stdin=json.dumps(ids).encode()).out == TEXT
    assert cli("tokens", "decode", stdin=", ".join(words).encode()).out == TEXT
    f = tmp_path / "ids.json"
    f.write_text(json.dumps(ids))
    assert cli("tokens", "decode", "-f", str(f)).out == TEXT
    assert cli("tokens", "decode", "--model", "gpt-4", "15339", "1917").out == "hello world"


def test_decode_gives_special_tokens_back_and_round_trips_encode(cli: Cli) -> None:
    encoded = cli("tokens", "encode", "--allowed-special", "all", SPECIAL_TEXT).out
    assert cli("tokens", "decode", *encoded.split()).out == SPECIAL_TEXT


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["15339", "abc"], b"", "devsynth: 'abc' (id 2) is not a token id\n"),
        (["15339", "999999999"], b"", "devsynth: 999999999 (id 2) is not a token of o200k_base\n"),
        (["--", "-1"], b"", "devsynth: -1 (id 1) is not a token of o200k_base\n"),
        (["1.5"], b"", "devsynth: '1.5' (id 1) is not a token id\n"),
        (["9" * 23], b"", f"devsynth: {'9' * 23} (id 1) is not a token of o200k_base\n"),
        ([], b"[15339, true]", "devsynth: -: true (id 2) is not a token id\n"),
        ([], b"[15339, 200500]", "devsynth: -: 200500 (id 2) is not a token of o200k_base\n"),
        ([], b"[15339,", "devsynth: -: not a JSON array of token ids"),
    ],
)  # fmt: skip
def test_decode_errors_name_the_bad_id(
    cli: Cli, args: list[str], stdin: bytes, message: str
) -> None:
    r = cli("tokens", "decode", *args, stdin=stdin)
    assert r.status == 1 and r.out == ""
    assert r.err.startswith(message) and r.err.count("\n") == 1


def test_decode_of_a_cut_character_notes_the_replacement(cli: Cli) -> None:
    cut = get_encoding("o200k_base").encode("🫠")[:1]
    r = cli("tokens", "decode", str(cut[0]))
    assert r.status == 0 and r.out == "\ufffd"
    assert r.err.count("\n") == 1
    assert "not UTF-8 (first bad byte at offset 0)" in r.err and "--bytes" in r.err


def test_decode_bytes_writes_the_exact_bytes() -> None:
    ids = get_encoding("o200k_base").encode("🫠")
    proc = subprocess.run(
        [sys.executable, "-m", "devsynth", "tokens", "decode", "--bytes", str(ids[0])],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout == b"\xf0\x9f"
    whole = run_process("tokens", "decode", *map(str, ids))
    assert whole.out == "🫠"


def test_ids_and_a_file_together_are_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    f = tmp_path / "ids.txt"
    f.write_text("15339")
    r = cli("tokens", "decode", "15339", "-f", str(f))
    assert r.status == 2 and r.err == "devsynth: error: give ids or --file, not both\n"
