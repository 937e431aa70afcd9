"""`devsynth tokens show` without a terminal: the bracketed form, visible whitespace, cut
characters, the summary, --ids, and the colours it draws when asked."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from devsynth.cli import palette
from devsynth.cli.terminal_view import use_color
from devsynth.tokens import get_encoding
from tests.support import ansi
from tests.support.cli import Cli


def token_texts(out: str) -> list[str]:
    """The bracketed tokens of plain output, the text's line breaks removed."""
    body = out.split("\n\n")[0]
    return re.findall(r"\[(.*?)\]", body.replace("\n", ""), re.S)


def test_piped_output_is_one_bracket_per_token_with_visible_whitespace(cli: Cli) -> None:
    r = cli("tokens", "show", "hello world")
    assert r.status == 0 and r.err == ""
    assert r.out == (
        "[hello][·world]\n\n2 tokens, 11 chars, 11 bytes, 5.50 bytes/token (o200k_base)\n"
    )
    assert "\x1b" not in r.out


def test_newlines_tabs_and_control_characters_are_drawn_and_lines_still_break(cli: Cli) -> None:
    text = "def f(x):\n\treturn x  # \x1b[31m\r\n"
    r = cli("tokens", "show", text)
    enc = get_encoding("o200k_base")
    assert len(token_texts(r.out)) == len(enc.encode(text))
    lines = r.out.split("\n\n")[0].split("\n")
    assert lines[0] == "[def][·f][(x][):⏎]"
    assert lines[1].startswith("[→return][·x][·]")
    assert "␛" in lines[1] and "\x1b" not in r.out  # no escape reaches the terminal
    assert lines[1].endswith("␍⏎]")


def test_a_cut_character_shows_its_bytes_and_the_summary_counts_it(cli: Cli) -> None:
    r = cli("tokens", "show", "a 🫠")
    assert token_texts(r.out) == ["a", "·\\xf0\\x9f", "\\xab", "\\xa0"]
    assert r.out.rstrip().endswith(
        "4 tokens, 3 chars, 6 bytes, 1.50 bytes/token (o200k_base); "
        "3 tokens hold part of a character (\\xNN)"
    )


def test_ids_sit_under_their_tokens(cli: Cli) -> None:
    text = "hello world\nlonger_identifier_name = 1"
    r = cli("tokens", "show", "--ids", "--encoding", "cl100k_base", text)
    ids = get_encoding("cl100k_base").encode(text)
    rows = r.out.split("\n\n")[0].split("\n")
    assert len(rows) == 4
    found: list[int] = []
    for tokens_row, ids_row in zip(rows[::2], rows[1::2], strict=True):
        starts = [m.start() for m in re.finditer(r"\[", tokens_row)]
        id_starts = [m.start() for m in re.finditer(r"\d+", ids_row)]
        assert starts == id_starts, (tokens_row, ids_row)
        found += [int(x) for x in ids_row.split()]
    assert found == ids


def test_ids_rows_wrap_at_the_terminal_width(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "30")
    text = "one two three four five six seven eight nine ten eleven twelve"
    r = cli("tokens", "show", "--ids", text)
    rows = r.out.split("\n\n")[0].split("\n")
    assert len(rows) > 2 and all(len(row) <= 30 for row in rows)
    assert [int(x) for row in rows[1::2] for x in row.split()] == get_encoding("o200k_base").encode(
        text
    )


def test_colour_draws_each_token_on_a_background_that_differs_from_its_neighbours(
    cli: Cli,
) -> None:
    text = "The quick brown fox 🫠 jumps"
    r = cli("tokens", "show", "--color", "always", text)
    lines = ansi.parse(r.out)
    runs = [run for run in lines[0] if run.style.bg is not None]
    enc = get_encoding("o200k_base")
    tokens = enc.encode(text)
    # Group the runs by background: one group per token, colours in palette order.
    groups: list[tuple[int, str]] = []
    for run in runs:
        assert run.style.bg is not None
        if groups and groups[-1][0] == run.style.bg:
            groups[-1] = (run.style.bg, groups[-1][1] + run.text)
        else:
            groups.append((run.style.bg, run.text))
    assert len(groups) == len(tokens)
    assert [bg for bg, _ in groups] == [palette.token_background(i) for i in range(len(tokens))]
    expected = [s.replace(" ", "·") for s in (enc.decode([t]) for t in tokens[:4])]
    assert [t for _, t in groups[:4]] == expected
    # Whitespace marks are grey, the cut emoji's bytes underlined in red, text black.
    marks = [run for run in runs if run.text == "·"]
    assert marks and all(run.style.fg == palette.MARK for run in marks)
    cut = [run for run in runs if run.text.startswith("\\x")]
    assert cut and all(run.style.underline and run.style.fg == palette.BYTES for run in cut)
    assert {run.style.fg for run in runs if run.text.isalpha()} == {palette.TEXT}
    # The summary is dim and nothing stays coloured after it.
    summary = [run for line in lines for run in line if "tokens," in run.text]
    assert summary and summary[0].style.dim and summary[0].style.bg is None
    assert r.out.endswith("\x1b[0m\n")


def test_colour_never_bleeds_past_a_line_end(cli: Cli) -> None:
    r = cli("tokens", "show", "--color", "always", "one\ntwo\n\nthree")
    for line in r.out.split("\n"):
        assert not line or line.endswith("\x1b[0m") or "\x1b" not in line, repr(line)


def test_special_tokens_are_bold_when_allowed(cli: Cli) -> None:
    r = cli("tokens", "show", "--color", "always", "--allowed-special", "all", "hi<|endoftext|>")
    runs = [run for run in ansi.parse(r.out)[0] if run.text == "<|endoftext|>"]
    assert runs and runs[0].style.bold and runs[0].style.fg == palette.SPECIAL


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("mode", "env", "terminal", "expected"),
    [
        ("auto", {}, True, True),
        ("auto", {}, False, False),
        ("auto", {"NO_COLOR": "1"}, True, False),
        ("auto", {"NO_COLOR": ""}, True, True),  # no-color.org: set and not empty
        ("auto", {"TERM": "dumb"}, True, False),
        ("always", {"NO_COLOR": "1"}, False, True),
        ("never", {}, True, False),
    ],
)
def test_colour_only_on_a_terminal_without_no_color(
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    env: dict[str, str],
    terminal: bool,
    expected: bool,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    stream = FakeTerminal() if terminal else io.StringIO()
    assert use_color(mode, stream) is expected


def test_files_and_stdin_are_shown_whole(cli: Cli, tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("line one\nline two\n")
    from_file = cli("tokens", "show", "-f", str(f))
    from_stdin = cli("tokens", "show", stdin=b"line one\nline two\n")
    dash = cli("tokens", "show", "-", stdin=b"line one\nline two\n")
    assert from_file.out == from_stdin.out == dash.out
    assert from_file.out.startswith("[line][·one][⏎]\n[line][·two][⏎]\n\n")


def test_encoding_and_model_pick_the_tokens(cli: Cli) -> None:
    text = "    indented code"
    o200k = cli("tokens", "show", text).out
    cl100k = cli("tokens", "show", "--model", "gpt-4", text).out
    assert "(cl100k_base)" in cl100k and "(o200k_base)" in o200k
    assert len(token_texts(cl100k)) == len(get_encoding("cl100k_base").encode(text))


def test_text_spelling_a_special_token_is_refused_with_the_way_out(cli: Cli) -> None:
    r = cli("tokens", "show", "a <|endoftext|>")
    assert r.status == 1 and r.out == ""
    assert r.err.count("\n") == 1
    assert "'<|endoftext|>'" in r.err and "--allowed-special" in r.err
    assert "--disallowed-special none" in r.err
    ordinary = cli("tokens", "show", "--disallowed-special", "none", "a <|endoftext|>")
    assert ordinary.status == 0 and ordinary.out.startswith("[a][·<][|][end][of][text][|][>]\n")


def test_text_and_file_together_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("x")
    r = cli("tokens", "show", "text", "-f", str(f))
    assert r.status == 2 and r.err == "devsynth: error: give TEXT or --file, not both\n"
