"""Real text already on the machine, for corpus tests and benchmarks: no generated filler.

- English prose: the license texts in /usr/share/common-licenses (Debian's base system);
- source code: the Python standard library of the running interpreter;
- multilingual text: translation catalogues (.mo files) under /usr/share/locale, read with the
  standard library's gettext, one slice per language so every script is represented.

Every function reads files in sorted order, so a given machine always gives the same corpus.
"""

from __future__ import annotations

import gettext
import sysconfig
from collections.abc import Iterator
from pathlib import Path

LICENSES = Path("/usr/share/common-licenses")
LOCALES = Path("/usr/share/locale")
STDLIB = Path(sysconfig.get_paths()["stdlib"])


def _take(chunks: Iterator[str], limit_bytes: int) -> str:
    out: list[str] = []
    size = 0
    for chunk in chunks:
        out.append(chunk)
        size += len(chunk.encode("utf-8", "surrogatepass"))
        if size >= limit_bytes:
            break
    return "".join(out)


def english_prose(limit_bytes: int = 1_000_000) -> str:
    """License texts, repeated in order until the limit (they total a few hundred KB)."""
    files = sorted(p for p in LICENSES.glob("*") if p.is_file())
    texts = [p.read_text("utf-8", errors="replace") for p in files]
    if not texts:
        raise FileNotFoundError(f"no license texts in {LICENSES}")

    def cycle() -> Iterator[str]:
        while True:
            yield from texts

    return _take(cycle(), limit_bytes)


def source_code(limit_bytes: int = 1_000_000) -> str:
    """Python standard library modules, in name order."""
    files = sorted(STDLIB.glob("*.py"))
    return _take((p.read_text("utf-8", errors="replace") for p in files), limit_bytes)


def catalogue_strings(per_language_bytes: int = 20_000) -> dict[str, list[str]]:
    """Translated strings of each language's catalogues, up to a budget per language."""
    by_language: dict[str, list[str]] = {}
    for lang_dir in sorted(LOCALES.iterdir()) if LOCALES.is_dir() else []:
        strings: list[str] = []
        size = 0
        for mo in sorted(lang_dir.glob("LC_MESSAGES/*.mo")):
            try:
                with mo.open("rb") as f:
                    catalog = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
            except (OSError, UnicodeDecodeError, ValueError, KeyError):
                continue
            for msgid, msgstr in sorted(catalog.items(), key=lambda kv: str(kv[0])):
                if isinstance(msgstr, str) and msgstr and msgid:
                    strings.append(msgstr)
                    size += len(msgstr.encode())
            if size >= per_language_bytes:
                break
        if strings:
            by_language[lang_dir.name] = strings
    return by_language


def multilingual(limit_bytes: int = 1_000_000) -> str:
    """Translated strings from every language, interleaved language by language."""
    by_language = catalogue_strings(per_language_bytes=max(2_000, limit_bytes // 150))
    if not by_language:
        raise FileNotFoundError(f"no translation catalogues under {LOCALES}")

    def interleave() -> Iterator[str]:
        for strings in by_language.values():
            yield "\n".join(strings) + "\n"

    return _take(interleave(), limit_bytes)


def short_documents(count: int = 10_000, low: int = 100, high: int = 2_000) -> list[str]:
    """Documents of `low`..`high` bytes cut from prose, code and multilingual text in turn."""
    sources = [
        english_prose(2_000_000).encode(),
        source_code(2_000_000).encode(),
        multilingual(2_000_000).encode(),
    ]
    docs: list[str] = []
    positions = [0, 0, 0]
    size = low
    while len(docs) < count:
        k = len(docs) % 3
        data = sources[k]
        start = positions[k] % max(1, len(data) - high)
        # Cut on bytes; a char split at either end is dropped, so a document may be a few
        # bytes under its size.
        docs.append(data[start : start + size].decode("utf-8", errors="ignore"))
        positions[k] = start + size
        size = low + (size * 7919 + 104_729) % (high - low)
    return docs
