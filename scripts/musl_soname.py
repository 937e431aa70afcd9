"""Names musl's C library in a musllinux wheel the way musllinux expects it.

zig links a musl extension against a libc stub whose soname is ``libc.so``. musl's loader
takes that name as itself, but musllinux wheels (those built on Alpine, and auditwheel's
policy) name it ``libc.musl-<arch>.so.1``, the file Alpine ships; `auditwheel show` calls a
wheel needing ``libc.so`` plain ``linux_<arch>``. This rewrites the DT_NEEDED entry with
patchelf and the wheel's RECORD to match.

    python scripts/musl_soname.py --patchelf PATH WHEEL...
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def rename_libc(wheel: Path, patchelf: str) -> bool:
    """Rewrites `wheel` in place; False when it needs no change."""
    m = re.search(r"musllinux_\d+_\d+_(x86_64|aarch64)\.whl$", wheel.name)
    if m is None:
        raise ValueError(f"{wheel.name} is not a musllinux wheel")
    soname = f"libc.musl-{m[1]}.so.1"
    changed = False
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / wheel.name
        with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            record = next(n for n in zin.namelist() if n.endswith(".dist-info/RECORD"))
            lines = []
            for info in zin.infolist():
                if info.filename == record:
                    continue
                data = zin.read(info)
                if info.filename.endswith(".so"):
                    lib = Path(tmp) / "lib.so"
                    lib.write_bytes(data)
                    needed = subprocess.run(
                        [patchelf, "--print-needed", str(lib)],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout.split()
                    if "libc.so" in needed:
                        subprocess.run(
                            [patchelf, "--replace-needed", "libc.so", soname, str(lib)], check=True
                        )
                        data = lib.read_bytes()
                        changed = True
                zout.writestr(info, data)
                lines.append(record_line(info.filename, data))
            lines.append(f"{record},,")
            zout.writestr(zin.getinfo(record), "\n".join(lines) + "\n")
        if changed:
            out.replace(wheel)
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patchelf", required=True)
    parser.add_argument("wheels", nargs="+", type=Path)
    args = parser.parse_args()
    for wheel in args.wheels:
        done = rename_libc(wheel, args.patchelf)
        print(f"   {wheel.name}: {'libc.so renamed' if done else 'already right'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
