"""The command line: ``devsynth tokens count [PATH ...]``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="devsynth", description="DevSynth LLM tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    tokens = sub.add_parser("tokens", help="token tools").add_subparsers(
        dest="action", required=True
    )
    count = tokens.add_parser("count", help="count the tokens of files, directories or stdin")
    count.add_argument("paths", nargs="*", default=["-"], help="files, directories, or - for stdin")
    pick = count.add_mutually_exclusive_group()
    pick.add_argument("--encoding", default=None, help="encoding name (default o200k_base)")
    pick.add_argument("--model", default=None, help="model name; picks its encoding")
    count.add_argument("--json", action="store_true", help="one JSON document")
    return parser


def run(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    from devsynth.tokens import encoding_for_model, get_encoding

    enc = (
        encoding_for_model(args.model)
        if args.model
        else get_encoding(args.encoding or "o200k_base")
    )
    files: list[dict[str, object]] = []
    failed = False
    for raw in args.paths:
        if raw == "-":
            data = sys.stdin.buffer.read()
            files.append(
                {
                    "path": "-",
                    "tokens": enc.count_ordinary(data.decode("utf-8", "replace")),
                    "bytes": len(data),
                }
            )
            continue
        path = Path(raw)
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for p in candidates:
            try:
                data = p.read_bytes()
            except OSError as e:
                print(f"devsynth: cannot read {p}: {e.strerror}", file=sys.stderr)
                failed = True
                continue
            text = data.decode("utf-8", "replace")
            files.append({"path": str(p), "tokens": enc.count_ordinary(text), "bytes": len(data)})
    total = sum(int(f["tokens"]) for f in files)  # type: ignore[call-overload]
    if args.json:
        print(json.dumps({"encoding": enc.name, "total_tokens": total, "files": files}))
    else:
        width = max([len(str(f["path"])) for f in files] + [5])
        for f in files:
            print(f"{f['path']!s:<{width}}  {f['tokens']:>12,}")
        print(f"{'total':<{width}}  {total:>12,}  ({enc.name})")
    return 1 if failed else 0
