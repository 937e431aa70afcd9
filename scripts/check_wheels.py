"""Checks the wheels and the sdist in dist/ the way PyPI and auditwheel would; exits 1 on any
failure, after running every check (so one run names every problem).

- dist/ holds exactly the expected artifacts: manylinux2014 and musllinux_1_2 wheels for
  x86_64 and aarch64, all cp310-abi3, and one sdist;
- `auditwheel show` confirms each wheel's platform tag: a wheel that needs a newer glibc (or
  musl) than its tag claims, or another architecture, fails;
- each wheel's contents: the extension built for its architecture, the Python package, no
  rank files (the compiled tables replace them); the sdist carries everything a build needs,
  the rank files included;
- the x86_64 manylinux wheel is installed into a fresh venv of each CPython in PYTHONS (found
  under pyenv; a missing interpreter is a failure), and scripts/smoke_wheel.py runs there;
- the sdist is installed with pip into a fresh venv (a build from source, with LTO off unless
  --sdist-release) and smoke-tested.

Prints a table: wheel, tag (from auditwheel), size, interpreters the smoke test passed on.

    python scripts/check_wheels.py --auditwheel .venv-build/bin/auditwheel [--dist dist]
        [--pythons 3.10,3.11,3.12,3.13] [--skip-install]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "scripts" / "smoke_wheel.py"
RANK_FILES = ["r50k_base", "p50k_base", "cl100k_base", "o200k_base"]
# Platform of each wheel dist/ must hold: its tag family, libc version, architecture.
EXPECTED = {
    ("manylinux", "x86_64"): (2, 17),
    ("manylinux", "aarch64"): (2, 17),
    ("musllinux", "x86_64"): (1, 2),
    ("musllinux", "aarch64"): (1, 2),
}
# ELF e_machine of each architecture.
ELF_MACHINE = {"x86_64": 62, "aarch64": 183}
TAG = re.compile(r"(manylinux|musllinux)_(\d+)_(\d+)_(x86_64|aarch64)")
LEGACY_ALIAS = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    rows: dict[str, dict[str, str]] = field(default_factory=dict)

    def check(self, ok: bool, what: str) -> bool:
        print(("ok    " if ok else "FAIL  ") + what, flush=True)
        if not ok:
            self.failures.append(what)
        return ok


@dataclass(frozen=True)
class WheelTags:
    family: str
    libc: tuple[int, int]
    arch: str


def declared_tags(wheel: Path) -> list[WheelTags]:
    """Platform tags in the wheel's name (`manylinux2014_x86_64` read as 2.17)."""
    platforms = wheel.name[: -len(".whl")].split("-")[-1].split(".")
    tags = []
    for platform in platforms:
        if m := TAG.fullmatch(platform):
            tags.append(WheelTags(m[1], (int(m[2]), int(m[3])), m[4]))
            continue
        legacy, _, arch = platform.partition("_")
        if legacy in LEGACY_ALIAS:
            tags.append(WheelTags("manylinux", LEGACY_ALIAS[legacy], arch))
        else:
            raise ValueError(f"{wheel.name}: platform tag {platform!r} is not a Linux one")
    return tags


def auditwheel_tag(auditwheel: str, wheel: Path) -> tuple[str, str]:
    """The platform tag `auditwheel show` finds the wheel consistent with, and its output."""
    out = subprocess.run(
        [auditwheel, "show", str(wheel)], capture_output=True, text=True, timeout=300
    )
    text = re.sub(r"\s+", " ", out.stdout + out.stderr)
    m = re.search(r'consistent with the following platform tag: "([^"]+)"', text)
    return (m[1] if m else ""), text


def check_tags(report: Report, auditwheel: str, wheels: list[Path]) -> None:
    found: dict[tuple[str, str], Path] = {}
    for wheel in wheels:
        name = wheel.name
        row = report.rows.setdefault(name, {})
        row["size"] = f"{wheel.stat().st_size / 1e6:.1f} MB"
        report.check("-cp310-abi3-" in name, f"{name}: cp310-abi3")
        try:
            declared = declared_tags(wheel)
        except ValueError as exc:
            report.check(False, str(exc))
            continue
        families = {(t.family, t.arch) for t in declared}
        if not report.check(len(families) == 1, f"{name}: one platform per wheel"):
            continue
        key = next(iter(families))
        report.check(key not in found, f"{name}: the only {key[0]} {key[1]} wheel")
        found[key] = wheel
        claimed = min(t.libc for t in declared)
        expected = EXPECTED.get(key)
        report.check(
            expected == claimed,
            f"{name}: tagged {key[0]} {claimed[0]}.{claimed[1]}, built for {expected}",
        )
        tag, output = auditwheel_tag(auditwheel, wheel)
        row["tag"] = tag or "(none)"
        m = TAG.fullmatch(tag)
        if not report.check(m is not None, f"{name}: auditwheel show names a tag ({tag!r})"):
            print("      auditwheel: " + output[-600:])
            continue
        assert m is not None
        needs = (int(m[2]), int(m[3]))
        report.check(
            (m[1], m[4]) == key and needs <= claimed,
            f"{name}: auditwheel's tag {tag} is no newer than the claimed "
            f"{key[0]}_{claimed[0]}_{claimed[1]}_{key[1]}",
        )
    for family, arch in EXPECTED:
        report.check((family, arch) in found, f"dist/ has a {family} {arch} wheel")


def check_wheel_contents(report: Report, wheel: Path) -> None:
    name = wheel.name
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        report.check(zf.testzip() is None, f"{name}: every member's CRC is right")
        extensions = [n for n in names if re.fullmatch(r"devsynth/_core\.abi3\.so", n)]
        if report.check(len(extensions) == 1, f"{name}: one devsynth/_core.abi3.so"):
            head = zf.read(extensions[0])[:20]
            machine = int.from_bytes(head[18:20], "little")
            arch = declared_tags(wheel)[0].arch
            report.check(
                head[:4] == b"\x7fELF" and machine == ELF_MACHINE[arch],
                f"{name}: the extension is an ELF for {arch} (e_machine {machine})",
            )
        for needed in ("devsynth/__init__.py", "devsynth/py.typed", "devsynth/_core.pyi"):
            report.check(needed in names, f"{name}: has {needed}")
        ranks = [n for n in names if n.endswith(".tiktoken")]
        report.check(not ranks, f"{name}: no rank files (the tables hold them): {ranks}")
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        report.check(
            "Requires-Python: >=3.10" in zf.read(metadata).decode(),
            f"{name}: Requires-Python >=3.10",
        )


def check_sdist_contents(report: Report, sdist: Path) -> None:
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    needed = [
        "pyproject.toml",
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "rust/lib.rs",
        "python/devsynth/__init__.py",
        "python/devsynth/_core.pyi",
        *(f"python/devsynth/tokens/ranks/{stem}.tiktoken" for stem in RANK_FILES),
    ]
    for path in needed:
        report.check(path in names, f"{sdist.name}: has {path}")
    report.check(not any(n.endswith(".so") for n in names), f"{sdist.name}: no binaries")


def find_python(version: str) -> Path | None:
    """The newest pyenv CPython `version`.x (PYENV_ROOT, else ~/.pyenv)."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = sorted(
        (
            p
            for p in root.glob(f"{version}.*")
            if re.fullmatch(rf"{re.escape(version)}\.\d+", p.name)
        ),
        key=lambda p: int(p.name.rsplit(".", 1)[1]),
    )
    for candidate in reversed(found):
        exe = candidate / "bin" / "python3"
        if exe.is_file():
            return exe
    return None


def smoke_in_fresh_venv(
    report: Report, python: Path, requirement: str, label: str, env: dict[str, str] | None = None
) -> bool:
    """A fresh venv from `python`, `pip install requirement`, then the smoke test."""
    with tempfile.TemporaryDirectory(prefix="devsynth-wheel-check-") as tmp:
        target = Path(tmp) / "venv"
        made = subprocess.run(
            [str(python), "-m", "venv", str(target)], capture_output=True, text=True
        )
        if not report.check(made.returncode == 0, f"{label}: venv ({made.stderr[-300:]})"):
            return False
        vpy = target / "bin" / "python"
        start = time.monotonic()
        install = subprocess.run(
            [str(vpy), "-m", "pip", "install", "--quiet", requirement],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
        )
        took = time.monotonic() - start
        if not report.check(install.returncode == 0, f"{label}: pip install ({took:.0f} s)"):
            print(install.stdout[-2000:] + install.stderr[-3000:])
            return False
        smoke = subprocess.run([str(vpy), str(SMOKE)], capture_output=True, text=True, cwd=tmp)
        failed_lines = [ln for ln in smoke.stdout.splitlines() if not ln.startswith("ok ")]
        print("      " + "\n      ".join(failed_lines))
        return report.check(smoke.returncode == 0, f"{label}: smoke test")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--auditwheel", required=True)
    parser.add_argument("--pythons", default="3.10,3.11,3.12,3.13")
    parser.add_argument("--sdist-python", default=sys.executable)
    parser.add_argument(
        "--sdist-release",
        action="store_true",
        help="build the sdist exactly as users do (fat LTO) rather than with LTO off",
    )
    parser.add_argument("--skip-sdist", action="store_true", help="no build from the sdist")
    parser.add_argument(
        "--skip-install", action="store_true", help="tags and contents only (no venvs)"
    )
    args = parser.parse_args()
    report = Report()
    wheels = sorted(args.dist.glob("*.whl"))
    sdists = sorted(args.dist.glob("*.tar.gz"))
    timings: dict[str, float] = {}

    start = time.monotonic()
    print("== tags (auditwheel show) and contents")
    check_tags(report, args.auditwheel, wheels)
    for wheel in wheels:
        check_wheel_contents(report, wheel)
    if report.check(len(sdists) == 1, f"dist/ has one sdist: {[s.name for s in sdists]}"):
        check_sdist_contents(report, sdists[0])
    timings["tags and contents"] = time.monotonic() - start

    if not args.skip_install:
        manylinux = [w for w in wheels if "manylinux" in w.name and w.name.endswith("x86_64.whl")]
        tested: list[str] = []
        start = time.monotonic()
        if report.check(len(manylinux) == 1, "the x86_64 manylinux wheel to install"):
            print("== the x86_64 manylinux wheel on each CPython")
            for version in args.pythons.split(","):
                python = find_python(version)
                if not report.check(python is not None, f"CPython {version} found under pyenv"):
                    continue
                assert python is not None
                label = f"CPython {version} ({python})"
                if smoke_in_fresh_venv(report, python, str(manylinux[0]), label):
                    tested.append(version)
            report.rows.setdefault(manylinux[0].name, {})["smoke"] = ", ".join(tested)
        timings["wheel on each CPython"] = time.monotonic() - start
        if sdists and not args.skip_sdist:
            print("== the sdist, built from source by pip")
            start = time.monotonic()
            python = Path(args.sdist_python)
            version = ".".join(
                subprocess.run(
                    [str(python), "-c", "import sys; print(*sys.version_info[:2])"],
                    capture_output=True,
                    text=True,
                ).stdout.split()
            )
            env = dict(os.environ)
            if not args.sdist_release:
                # What this checks (the sdist is complete, builds and works) does not depend on
                # fat LTO, which the wheels' builds already exercise; without it the build
                # takes minutes less on 2 cores.
                env.update(
                    CARGO_PROFILE_RELEASE_LTO="off",
                    CARGO_PROFILE_RELEASE_CODEGEN_UNITS="16",
                )
            ok = smoke_in_fresh_venv(report, python, str(sdists[0]), f"sdist on {version}", env=env)
            report.rows.setdefault(sdists[0].name, {"tag": "(source)"})["smoke"] = (
                version if ok else ""
            )
            report.rows[sdists[0].name]["size"] = f"{sdists[0].stat().st_size / 1e6:.1f} MB"
            timings["sdist build and smoke test"] = time.monotonic() - start

    print("\n| artifact | tag (auditwheel) | size | smoke-tested on |")
    print("|---|---|---:|---|")
    for name, row in report.rows.items():
        smoke = row.get("smoke", "")
        print(f"| {name} | {row.get('tag', '')} | {row.get('size', '')} | {smoke or '-'} |")
    print("\n" + ", ".join(f"{k}: {v:.0f} s" for k, v in timings.items()))
    if report.failures:
        print(f"\n{len(report.failures)} wheel check(s) failed:", file=sys.stderr)
        for failure in report.failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print("every wheel check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
