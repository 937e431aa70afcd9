"""`devsynth tokens show --html`: a self-contained page (no scripts, nothing fetched) whose
coloured tokens carry their ids, checked as written and as headless Chromium renders it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from devsynth.cli import palette
from devsynth.tokens import get_encoding
from tests.support.cli import Cli
from tests.support.tools import chromium

SAMPLE = 'def greet(name):\n    return f"Héllo, {name}! 🫠"\n\n# <|endoftext|> & <b>\n'


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def walk(self) -> list[Element]:
        return [self, *(e for c in self.children for e in c.walk())]


class Dom(HTMLParser):
    """A small DOM: elements with their attributes and all the text inside them."""

    VOID = frozenset({"meta", "br", "link", "img", "input", "hr"})

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag == "br":
            for open_element in self.stack:
                open_element.text += "\n"
        elif tag not in self.VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for k in range(len(self.stack) - 1, 0, -1):
            if self.stack[k].tag == tag:
                del self.stack[k:]
                return

    def handle_data(self, data: str) -> None:
        for open_element in self.stack:
            open_element.text += data

    def all(self, tag: str | None = None) -> list[Element]:
        return [e for e in self.root.walk()[1:] if tag is None or e.tag == tag]


def write_page(cli: Cli, tmp_path: Path, *args: str) -> Path:
    source = tmp_path / "sample.py"
    source.write_text(SAMPLE)
    page = tmp_path / "tokens.html"
    r = cli(
        "tokens", "show", "-f", str(source), "--disallowed-special", "none",
        "--html", str(page), *args,
    )  # fmt: skip
    assert r.status == 0, r.err
    assert r.out == ""
    assert r.err.startswith(f"devsynth: wrote {page}: 3")
    return page


def unmarked(text: str) -> str:
    return text.replace("·", " ").replace("⏎\n", "\n").replace("⏎", "\n")


def shown_text(token: Element) -> str:
    """A token's drawn text (with --ids, its text part, not the id under it)."""
    parts = [c for c in token.children if "x" in c.classes()]
    return parts[0].text + ("\n" if token.text.endswith("\n") else "") if parts else token.text


def check_page(dom: Dom) -> None:
    """What the page must hold, as written or as rendered."""
    enc = get_encoding("o200k_base")
    tokens = enc.encode(SAMPLE, disallowed_special=())
    spans = [e for e in dom.all("span") if "data-id" in e.attrs]
    assert [int(e.attrs["data-id"]) for e in spans] == tokens
    # Each token's id shows on hover (its title), its colour class cycles through the palette.
    for k, (e, token) in enumerate(zip(spans, tokens, strict=True)):
        assert e.attrs["title"].startswith(f"id {token} · ")
        assert f"c{k % len(palette.TOKEN_BACKGROUNDS)}" in e.classes()
        assert int(e.attrs["data-bytes"]) == len(enc.decode_single_token_bytes(token))
    # The tokens spell the text; the three tokens of the cut emoji are marked and explained.
    cut = [e for e in spans if "partial" in e.classes()]
    assert len(cut) == 3
    assert all("part of '🫠' (U+1FAE0)" in e.attrs["title"] for e in cut)
    shown = "".join(shown_text(e) for e in dom.all("span") if "t" in e.classes())
    assert "\\xf0\\x9f" in shown
    assert unmarked(re.sub(r"(\\x[0-9a-f]{2})+", "🫠", shown)) == SAMPLE
    # The summary.
    figures = {e.attrs["data-figure"]: e.text for e in dom.all("span") if "data-figure" in e.attrs}
    assert figures["tokens"] == f"{len(tokens)} tokens"
    assert figures["chars"] == f"{len(SAMPLE)} chars"
    assert figures["bytes"] == f"{len(SAMPLE.encode())} bytes"
    assert figures["bytes/token"] == f"{len(SAMPLE.encode()) / len(tokens):.2f} bytes/token"
    assert figures["encoding"] == "o200k_base"
    # Self-contained: no scripts, nothing that could be fetched, a policy forbidding it.
    assert not dom.all("script") and not dom.all("link") and not dom.all("img")
    for e in dom.all():
        assert not {"src", "href", "srcset", "action"} & set(e.attrs), e
        assert not any(k.startswith("on") for k in e.attrs), e
    policy = [e for e in dom.all("meta") if e.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert policy and "default-src 'none'" in policy[0].attrs["content"]


def test_the_page_holds_every_token_with_its_id_and_the_summary(cli: Cli, tmp_path: Path) -> None:
    html = write_page(cli, tmp_path).read_text()
    check_page(Dom(html))
    assert "http://" not in html and "https://" not in html and "url(" not in html
    # The text is escaped, never markup: only the page's own spans and breaks in the tokens.
    dom = Dom(html)
    assert {e.tag for e in dom.all("pre")[0].walk()[1:]} == {"span", "br"}
    assert "&lt;" in html


def test_ids_option_writes_each_id_under_its_token(cli: Cli, tmp_path: Path) -> None:
    dom = Dom(write_page(cli, tmp_path, "--ids").read_text())
    check_page(dom)
    ids = [e.text for e in dom.all("span") if "id" in e.classes() and e.text]
    assert [int(i) for i in ids] == get_encoding("o200k_base").encode(SAMPLE, disallowed_special=())


def test_html_to_stdout_and_unwritable_files(cli: Cli, tmp_path: Path) -> None:
    r = cli("tokens", "show", "--html", "-", "hi there")
    assert r.status == 0 and r.out.startswith("<!DOCTYPE html>")
    bad = cli("tokens", "show", "--html", str(tmp_path / "no" / "such" / "dir.html"), "hi")
    assert bad.status == 1
    assert (
        bad.err
        == f"devsynth: cannot write {tmp_path}/no/such/dir.html: No such file or directory\n"
    )


def test_chromium_renders_the_page_dom_and_screenshot(cli: Cli, tmp_path: Path) -> None:
    page = write_page(cli, tmp_path)
    dumped = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = Dom(dumped.stdout)
    check_page(dom)
    assert dom.all("pre") and "tokens" in dom.all("pre")[0].classes()

    shot = tmp_path / "page.png"
    taken = chromium(tmp_path, f"--screenshot={shot}", "--window-size=900,400", page.as_uri())
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (900, 400)
        colors = {rgb for _, rgb in image.convert("RGB").getcolors(900 * 400) or []}
    # Every token colour is painted (the sample has more tokens than the palette has colours).
    for index in palette.TOKEN_BACKGROUNDS:
        hex_color = palette.xterm_hex(index)
        rgb = tuple(int(hex_color[k : k + 2], 16) for k in (1, 3, 5))
        assert rgb in colors, hex_color
