"""Every token command meets the bad inputs `count` meets (missing files, directories, binary
files, bytes that are not UTF-8, unknown encodings and models, a reader that goes away) with
one clear line and the exit status `count` gives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devsynth.tokens import get_encoding
from tests.support.cli import Cli, Result

# How each command reads a file, and what else it needs.
READS_FILE = {
    "count": lambda p: ["tokens", "count", p],
    "show": lambda p: ["tokens", "show", "-f", p],
    "encode": lambda p: ["tokens", "encode", "-f", p],
    "decode": lambda p: ["tokens", "decode", "-f", p],
    "compare": lambda p: ["tokens", "compare", "-f", p],
}
TEXT_COMMANDS = ["show", "encode", "compare"]


def one_line(r: Result) -> str:
    assert r.err.count("\n") == 1 and r.err.startswith("devsynth: "), r.err
    return r.err


@pytest.mark.parametrize("command", list(READS_FILE))
def test_a_missing_file_or_a_directory_is_one_line_and_counts_status(
    cli: Cli, tmp_path: Path, command: str
) -> None:
    missing = str(tmp_path / "missing.txt")
    expected = cli(*READS_FILE["count"](missing))
    r = cli(*READS_FILE[command](missing))
    assert r.status == expected.status == 1
    assert one_line(r) == f"devsynth: cannot read {missing}: No such file or directory\n"
    if command != "count":  # count walks directories; the others read one file
        d = cli(*READS_FILE[command](str(tmp_path)))
        assert d.status == 1
        assert one_line(d) == f"devsynth: cannot read {tmp_path}: Is a directory\n"


@pytest.mark.parametrize("command", list(READS_FILE))
def test_a_binary_file_is_skipped_with_a_note_as_count_skips_it(
    cli: Cli, tmp_path: Path, command: str
) -> None:
    binary = tmp_path / "image.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    expected = cli(*READS_FILE["count"](str(binary)))
    r = cli(*READS_FILE[command](str(binary)))
    assert r.status == expected.status == 0
    assert one_line(r) == one_line(expected)
    assert "binary file" in r.err


@pytest.mark.parametrize("command", TEXT_COMMANDS)
def test_bytes_that_are_not_utf8_are_replaced_or_skip_the_input_as_in_count(
    cli: Cli, tmp_path: Path, command: str
) -> None:
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("café au lait".encode("latin-1"))
    replaced = cli(*READS_FILE[command](str(latin)))
    assert replaced.status == cli(*READS_FILE["count"](str(latin))).status == 0
    assert replaced.err == ""
    tokens = get_encoding("o200k_base").encode("caf\ufffd au lait")
    if command == "show":
        assert replaced.out.startswith("[caf][\ufffd][·au][·lait]\n")
    elif command == "encode":
        assert replaced.out == " ".join(map(str, tokens)) + "\n"
    else:
        assert replaced.out.splitlines()[1].split()[1] == str(len(tokens))
    skip = ["--undecodable", "skip"]
    expected = cli(*READS_FILE["count"](str(latin)), *skip)
    skipped = cli(*READS_FILE[command](str(latin)), *skip)
    assert skipped.status == expected.status == 0
    assert one_line(skipped) == one_line(expected)
    assert "not UTF-8 (first bad byte at offset 3)" in skipped.err


def test_decode_of_text_that_is_not_ids_names_what_it_found(cli: Cli, tmp_path: Path) -> None:
    latin = tmp_path / "ids.txt"
    latin.write_bytes(b"15339 caf\xe9")
    r = cli("tokens", "decode", "-f", str(latin))
    assert r.status == 1
    assert one_line(r) == f"devsynth: {latin}: 'caf\ufffd' (id 2) is not a token id\n"


UNKNOWN = [("--encoding", "nope", "unknown encoding 'nope'"), ("--model", "gpt-nope", "gpt-nope")]


@pytest.mark.parametrize("command", list(READS_FILE))
@pytest.mark.parametrize(("option", "name", "says"), UNKNOWN)
def test_an_unknown_encoding_or_model_is_a_usage_error_in_one_line(
    cli: Cli, tmp_path: Path, command: str, option: str, name: str, says: str
) -> None:
    f = tmp_path / "a.txt"
    f.write_text("12 34")
    expected = cli(*READS_FILE["count"](str(f)), option, name)
    r = cli(*READS_FILE[command](str(f)), option, name)
    assert r.status == expected.status == 2
    assert r.out == ""
    assert one_line(r).startswith("devsynth: error: ") and says in r.err


def closed_pipe(args: list[str], stdin: bytes = b"") -> tuple[int, bytes]:
    """Runs ``devsynth ARGS`` with its standard output a pipe whose reader has gone."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "devsynth", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
    proc.stdout.close()  # before the process can write anything
    proc.stdin.write(stdin)
    proc.stdin.close()
    err = proc.stderr.read()
    return proc.wait(timeout=120), err


def test_a_reader_that_goes_away_stops_every_command_as_it_stops_count(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("Tokens for a reader that leaves early.\n" * 5000)
    ids = " ".join(["15339"] * 20000).encode()
    expected_status, expected_err = closed_pipe(["tokens", "count", str(big)])
    assert expected_err == b""
    for args, stdin in [
        (["tokens", "show", "-f", str(big)], b""),
        (["tokens", "show", "--ids", "-f", str(big)], b""),
        (["tokens", "show", "--html", "-", "-f", str(big)], b""),
        (["tokens", "encode", "-f", str(big)], b""),
        (["tokens", "decode"], ids),
        (["tokens", "compare", "-f", str(big)], b""),
    ]:
        status, err = closed_pipe(args, stdin)
        assert (status, err) == (expected_status, expected_err), args
