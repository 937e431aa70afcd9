"""Smoke test of an installed devsynth-llm (a wheel or an sdist build), in its own venv.

Run it with the venv's interpreter from a directory outside the source tree:
``python scripts/smoke_wheel.py``. Exits non-zero, naming what failed, when
- the package is not the installed one (site-packages), or its extension's version differs;
- an encoding reaches for the network (every socket connection and name lookup is refused
  for the whole run, before devsynth is imported);
- a built-in encoding's tokens differ from the golden set (tiktoken 0.14's, recorded);
- a rank file written back from the compiled tables is not byte-identical to OpenAI's;
- the installed ``devsynth`` command does not count a file;
- ``devsynth.adapters.llm.llm_adapter`` does not import and run an Offline provider.
Standard library only: the release workflow runs it on every platform.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any


def refuse_network(event: str, args: tuple[Any, ...]) -> None:
    if event in {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto"}:
        raise OSError(f"smoke test: network access refused ({event} {args!r:.80})")


sys.addaudithook(refuse_network)

TEXTS = [
    "hello world",
    "Héllo wörld! 日本語のテキスト 😀",
    "def f(x):\n    return x ** 2  # square\n",
    "   1234567 tokens, counted.",
]

# tiktoken 0.14's tokens of TEXTS, one line each, then of "<|endoftext|>" with every special
# token allowed.
R50K = """
31373 995
39 2634 18798 266 30570 335 0 10545 245 98 17312 105 45739 252 5641 24336 25084 43302 30325 222
4299 277 7 87 2599 198 220 220 220 1441 2124 12429 362 220 1303 6616 198
220 220 17031 2231 3134 16326 11 14789 13
50256
"""
P50K = """
31373 995
39 2634 18798 266 30570 335 0 10545 245 98 17312 105 45739 252 5641 24336 25084 43302 30325 222
4299 277 7 87 2599 198 50258 1441 2124 12429 362 220 1303 6616 198
50257 17031 2231 3134 16326 11 14789 13
50256
"""
CL100K = """
15339 1917
39 19010 385 289 9603 509 0 76502 22656 45918 252 16144 57933 62903 71634 91416
755 282 2120 997 262 471 865 3146 220 17 220 674 9518 198
256 220 4513 10961 22 11460 11 31094 13
100257
"""
O200K = """
24912 2375
39 377 72807 286 2877 582 0 17428 40909 3385 16056 18368 38236 88038
1314 285 4061 1883 271 622 1215 6240 220 17 220 1069 13749 198
256 220 7633 19354 22 20290 11 60500 13
199999
"""
GOLDEN_BY_FILE = {"r50k": R50K, "p50k": P50K, "cl100k": CL100K, "o200k": O200K}
FILE_OF = {
    "gpt2": "r50k",
    "r50k_base": "r50k",
    "p50k_base": "p50k",
    "p50k_edit": "p50k",
    "cl100k_base": "cl100k",
    "o200k_base": "o200k",
    "o200k_harmony": "o200k",
}


def golden(name: str) -> tuple[list[list[int]], list[int]]:
    """The tokens of each of TEXTS, and of the end-of-text special token."""
    lines = [[int(t) for t in line.split()] for line in GOLDEN_BY_FILE[FILE_OF[name]].split("\n")]
    lines = [line for line in lines if line]
    return lines[:-1], lines[-1]


failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


def check_installed_package() -> None:
    import devsynth
    from devsynth import _core

    site = {Path(sysconfig.get_path(k)).resolve() for k in ("purelib", "platlib")}
    location = Path(devsynth.__file__).resolve()
    check(any(s in location.parents for s in site), f"devsynth imported from {location}")
    from importlib.metadata import version

    check(
        _core.__version__ == version("devsynth-llm"),
        f"extension {_core.__version__} == distribution {version('devsynth-llm')}",
    )


def check_encodings() -> None:
    from devsynth import tokens

    check(sorted(tokens.list_encoding_names()) == sorted(FILE_OF), "the seven encodings")
    for name in FILE_OF:
        expected, special = golden(name)
        enc = tokens.get_encoding(name)
        got = [enc.encode(text) for text in TEXTS]
        check(got == expected, f"{name}: tokens equal tiktoken's golden set")
        check([enc.decode(t) for t in got] == TEXTS, f"{name}: decode round-trips")
        check(
            enc.encode("<|endoftext|>", allowed_special="all") == special,
            f"{name}: special token",
        )
        check(enc.count_batch(TEXTS) == [len(e) for e in expected], f"{name}: count_batch")
    check_long_non_ascii_text()


def check_long_non_ascii_text() -> None:
    """A long non-ASCII str is encoded to UTF-8 by us, from its code points, where CPython's
    layout is known (rust/py/str_data.rs): same tokens as from CPython's own UTF-8, which a
    second copy gets first, and CPython reads back the UTF-8 we kept."""
    import ctypes
    import platform

    from devsynth import _core, tokens

    text = " ".join(TEXTS) * 40
    ours, theirs = ("#" + text)[1:], ("#" + text)[1:]
    as_utf8 = ctypes.pythonapi.PyUnicode_AsUTF8
    as_utf8.restype, as_utf8.argtypes = ctypes.c_char_p, [ctypes.py_object]
    check(as_utf8(theirs) == text.encode(), "CPython's UTF-8 of a long text")
    for name in ("cl100k_base", "o200k_base"):
        enc = tokens.get_encoding(name)
        check(enc.encode(ours) == enc.encode(theirs), f"{name}: a long non-ASCII text")
    check(ours.encode() == text.encode(), "the UTF-8 kept in the str is CPython's")
    flags = Path("/proc/cpuinfo").read_text() if sys.platform == "linux" else ""
    if platform.machine() == "x86_64" and " avx2" in flags and " bmi2" in flags:
        check(_core.reads_str_in_place(), "long non-ASCII strs are encoded in place")


# sha256 of OpenAI's published files (the hashes tiktoken pins), kept here rather than read
# from the package under test.
OPENAI_SHA256 = {
    "r50k_base": "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    "p50k_base": "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}


def check_rank_files() -> None:
    from devsynth.tokens.load import rank_file_path

    for stem, sha in OPENAI_SHA256.items():
        path = rank_file_path(stem)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        check(digest == sha, f"{stem}: rank file {path} is OpenAI's (sha256)")


def check_cli(workdir: Path) -> None:
    from devsynth import tokens

    sample = workdir / "sample.txt"
    sample.write_text("\n".join(TEXTS), encoding="utf-8")
    scripts = Path(sysconfig.get_path("scripts"))
    exe = scripts / ("devsynth.exe" if os.name == "nt" else "devsynth")
    check(exe.is_file(), f"console script {exe}")
    if not exe.is_file():
        return
    out = subprocess.run(
        [str(exe), "tokens", "count", "--json", str(sample)],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=120,
    )
    check(out.returncode == 0, f"devsynth tokens count exits 0 (stderr: {out.stderr[-300:]!r})")
    if out.returncode == 0:
        total = json.loads(out.stdout)["total_tokens"]
        expected = tokens.get_encoding("o200k_base").count(sample.read_text(encoding="utf-8"))
        check(total == expected, f"the CLI counts the file: {total} == {expected}")


def check_adapter() -> None:
    from devsynth.adapters.llm.llm_adapter import LLMBackendAdapter, LLMProviderConfig

    provider = LLMBackendAdapter().create_provider(
        LLMProviderConfig(provider_type="offline", parameters={"max_tokens": 16})
    )
    text = provider.generate("Hello, world!")
    check(isinstance(text, str) and bool(text), "the adapter runs an Offline provider")


def main() -> int:
    print(f"smoke test on Python {sys.version.split()[0]} ({sys.executable})")
    with tempfile.TemporaryDirectory(prefix="devsynth-smoke-") as tmp:
        workdir = Path(tmp)
        # A fresh rank cache, so the files are written back from the tables in a wheel.
        os.environ["DEVSYNTH_CACHE_DIR"] = str(workdir / "cache")
        os.environ["DEVSYNTH_OFFLINE"] = "1"
        os.chdir(workdir)
        for step in (check_installed_package, check_encodings, check_rank_files, check_adapter):
            try:
                step()
            except Exception as exc:  # a crash is one more failure, named
                check(False, f"{step.__name__} raised {exc!r}")
        try:
            check_cli(workdir)
        except Exception as exc:
            check(False, f"check_cli raised {exc!r}")
    if failures:
        print(f"{len(failures)} smoke check(s) failed", file=sys.stderr)
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
