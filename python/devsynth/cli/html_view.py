"""Tokens as a self-contained HTML page: each token a coloured span whose id shows on hover
(its ``title``), the summary on top. One file with its style inline: no scripts at all, nothing
fetched (its Content-Security-Policy forbids any network access)."""

from __future__ import annotations

from html import escape
from string import Template

from devsynth.cli import palette
from devsynth.cli.visible import Glyphs, summary_line, token_lines
from devsynth.tokens.spans import TokenizedText, TokenSpan

#: Token backgrounds, cycled: the terminal view's colours.
PAGE_PALETTE = tuple(palette.xterm_hex(c) for c in palette.TOKEN_BACKGROUNDS)

# $-placeholders are the palette's colours (string.Template: CSS is full of braces).
_STYLE = Template("""
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.2rem; margin: 0 0 .25rem; word-break: break-all; }
.summary { color: #555; margin: 0 0 1rem; }
.summary b { color: #1a1a1a; }
.tokens { font: 15px/1.9 ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre-wrap;
  word-break: break-all; margin: 0; }
.t { border-radius: 3px; padding: 1px 0; }
.t:hover { outline: 2px solid #333; }
.mark { color: $mark; }
.bytes { color: $bytes; text-decoration: underline; }
.t.partial { outline: 1px dashed $bytes; }
.t.special { font-weight: bold; color: $special; }
""")

_IDS_STYLE = """
.tokens.ids { line-height: 1.3; }
.ids .t { display: inline-flex; flex-direction: column; vertical-align: top;
  margin: 0 2px 6px 0; padding: 1px 2px; }
.ids .id { font-size: 11px; color: #555; }
"""


def _style(*, ids: bool) -> str:
    hex_of = palette.xterm_hex
    style = _STYLE.substitute(
        mark=hex_of(palette.MARK), bytes=hex_of(palette.BYTES), special=hex_of(palette.SPECIAL)
    )
    colors = "\n".join(f".c{k} {{ background: {c}; }}" for k, c in enumerate(PAGE_PALETTE))
    return style + (_IDS_STYLE if ids else "") + colors


_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'"


def _glyphs_html(glyphs: tuple[Glyphs, ...]) -> str:
    out: list[str] = []
    for g in glyphs:
        text = escape(g.text)
        if g.kind == "text":
            out.append(text)
        else:
            out.append(f'<span class="{"mark" if g.kind == "mark" else "bytes"}">{text}</span>')
    return "".join(out)


def _title(span: TokenSpan) -> str:
    """The tooltip: the id, the token's bytes when it cuts a character, its byte length."""
    parts = [f"id {span.token}"]
    if span.special:
        parts.append("special token")
    for fragment in span.fragments:
        if fragment.is_partial:
            cut = " ".join(f"{b:02x}" for b in fragment.partial)
            char = fragment.text
            parts.append(f"bytes {cut}: part of {char!r} (U+{ord(char[0]):04X})")
    parts.append(f"{span.nbytes} byte{'' if span.nbytes == 1 else 's'}")
    return " · ".join(parts)


def _span_html(index: int, span: TokenSpan, *, ids: bool) -> str:
    classes = ["t", f"c{index % len(PAGE_PALETTE)}"]
    if span.is_partial:
        classes.append("partial")
    if span.special:
        classes.append("special")
    attrs = (
        f'class="{" ".join(classes)}" data-id="{span.token}" '
        f'data-bytes="{span.nbytes}" title="{escape(_title(span))}"'
    )
    drawn = token_lines(span)
    if not ids:
        body = "<br>".join(_glyphs_html(line) for line in drawn.lines)
        after = "<br>" if drawn.ends_line else ""
        return f"<span {attrs}>{body}</span>{after}"
    # With ids, a token is a small column (text over id); a newline inside it ends the row.
    out: list[str] = []
    for k, line in enumerate(drawn.lines):
        token_id = str(span.token) if k == 0 else ""
        part_attrs = attrs if k == 0 else f'class="{" ".join(classes)} cont"'
        out.append(
            f'<span {part_attrs}><span class="x">{_glyphs_html(line)}</span>'
            f'<span class="id">{token_id}</span></span>'
        )
        if k < len(drawn.lines) - 1 or drawn.ends_line:
            out.append("<br>")
    return "".join(out)


def render_page(view: TokenizedText, *, title: str, ids: bool = False) -> str:
    """The page for ``view`` of the input named ``title``."""
    style = _style(ids=ids)
    tokens = "".join(_span_html(i, span, ids=ids) for i, span in enumerate(view.spans))
    per = view.bytes_per_token
    figures = [
        ("tokens", f"{view.tokens:,}"),
        ("chars", f"{view.chars:,}"),
        ("bytes", f"{view.bytes:,}"),
        ("bytes/token", f"{per:.2f}" if per is not None else "none"),
        ("encoding", view.encoding),
    ]
    summary = " · ".join(
        f'<span data-figure="{name}"><b>{escape(value)}</b> {name}</span>'
        if name != "encoding"
        else f'<span data-figure="{name}">{escape(value)}</span>'
        for name, value in figures
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="devsynth tokens show">
<title>{escape(title)} · {escape(view.encoding)} tokens</title>
<style>{style}
</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p class="summary" title="{escape(summary_line(view))}">{summary}</p>
<pre class="tokens{" ids" if ids else ""}">{tokens}</pre>
</body>
</html>
"""
