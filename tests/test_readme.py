"""The README's token tour runs, and each value it shows in a comment is the value returned."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_token_tour_block_runs_and_its_comments_hold() -> None:
    text = README.read_text()
    section = text[text.index("## Tokens") :]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    namespace: dict[str, object] = {}
    checked = 0
    for line in block.group(1).splitlines():
        code, _, comment = line.partition("#")
        code = code.strip()
        if not code:
            continue
        try:
            expression = compile(code, "README.md", "eval")
        except SyntaxError:
            exec(compile(code, "README.md", "exec"), namespace)
            continue
        value = eval(expression, namespace)
        shown = re.match(r"\s*(\[[^\]]*\]|'[^']*'|\d+)", comment)
        if shown:
            assert repr(value) == shown.group(1), line
            checked += 1
    assert checked >= 4
