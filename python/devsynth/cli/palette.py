"""The token colours, shared by the terminal view and the HTML page: indices into the xterm
256-colour palette, and the same colours as CSS hex for the page."""

from __future__ import annotations

#: Token backgrounds, cycled token by token so neighbours always differ: mid tints (blue,
#: salmon, green, pink, yellow, violet) under black text, readable on light and dark
#: terminals and on a white page.
TOKEN_BACKGROUNDS = (153, 216, 151, 219, 229, 183)
TEXT = 16  # black
MARK = 242  # grey: whitespace and control marks
BYTES = 124  # dark red: bytes of a cut character
SPECIAL = 19  # dark blue: special tokens
TOKEN_ID = 244  # grey: ids under the tokens

# The 16 system colours as xterm draws them.
_SYSTEM = (
    "#000000", "#cd0000", "#00cd00", "#cdcd00", "#0000ee", "#cd00cd", "#00cdcd", "#e5e5e5",
    "#7f7f7f", "#ff0000", "#00ff00", "#ffff00", "#5c5cff", "#ff00ff", "#00ffff", "#ffffff",
)  # fmt: skip
_CUBE_LEVELS = (0, 95, 135, 175, 215, 255)


def xterm_hex(index: int) -> str:
    """The CSS colour of xterm 256-colour ``index``: 16 system colours, a 6x6x6 cube, then a
    grey ramp."""
    if not 0 <= index < 256:
        raise ValueError(f"not an xterm colour: {index}")
    if index < 16:
        return _SYSTEM[index]
    if index < 232:
        n = index - 16
        r, g, b = (_CUBE_LEVELS[n // 36], _CUBE_LEVELS[n // 6 % 6], _CUBE_LEVELS[n % 6])
        return f"#{r:02x}{g:02x}{b:02x}"
    grey = 8 + 10 * (index - 232)
    return f"#{grey:02x}{grey:02x}{grey:02x}"


def token_background(index: int) -> int:
    """The background of the token at position ``index``."""
    return TOKEN_BACKGROUNDS[index % len(TOKEN_BACKGROUNDS)]
