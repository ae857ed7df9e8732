"""Check the lock files without moving them: ``make lock-check``.

What the check guards, and how, without depending on what the package index published
since the last ``make lock`` (a fresh resolution would take any newer release, and the
check would fail at random):

1. every lock pins each package to one version with its hashes;
2. every pin of an ``.in`` file (and of the ``.in`` files it includes) is honoured;
3. a lock constrained by another (``-c requirements.txt``) shares its versions;
4. the lock is complete and exact: resolving the ``.in`` file again with every version
   fixed to the locked one gives exactly the locked packages (nothing missing, nothing
   left over), so the locked versions satisfy every dependency's requirements.

Moving to newer releases stays a deliberate ``make lock``.

Usage: ``python -m infra.lock_check UV [LOCK ...]`` (the lock names without ``.txt``).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lock_names(root: Path = ROOT) -> list[str]:
    """Every lock ``make lock`` writes: one per ``requirements*.in`` file."""
    return sorted(path.stem for path in root.glob("requirements*.in"))


#: The platform the locks are resolved for (the Makefile's ``make lock`` uses the same),
#: and the Python, unless the ``.in`` file names another on a ``# lock-python: X.Y`` line.
PYTHON_VERSION = "3.13"
PYTHON_PLATFORM = "x86_64-manylinux_2_28"
_LOCK_PYTHON = re.compile(r"^# lock-python: (\S+)$", re.MULTILINE)


def lock_python(path: Path) -> str:
    """The Python version an ``.in`` file is locked for."""
    found = _LOCK_PYTHON.search(path.read_text())
    return found[1] if found else PYTHON_VERSION


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s\\;]+)")


def canonical(name: str) -> str:
    """A package name as the index compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


class LockError(Exception):
    """A lock file does not keep one of its promises; the message says which."""


@dataclass(frozen=True, slots=True)
class InputFile:
    """What a ``requirements*.in`` file asks for: its own pins, includes and constraints."""

    pins: dict[str, str]
    constraints: tuple[str, ...]


def read_lock(path: Path) -> dict[str, str]:
    """package -> version of a lock file; LockError for an entry without an exact pin or hashes."""
    lines = path.read_text().splitlines()
    versions: dict[str, str] = {}
    for number, line in enumerate(lines):
        if not line or line.startswith((" ", "#")):
            continue
        match = _PIN.match(line)
        if match is None:
            raise LockError(f"{path.name}:{number + 1}: not an exact pin: {line!r}")
        following = lines[number + 1].strip() if number + 1 < len(lines) else ""
        if not following.startswith("--hash=sha256:"):
            raise LockError(f"{path.name}:{number + 1}: {match[1]} has no hashes")
        versions[canonical(match[1])] = match[2]
    if not versions:
        raise LockError(f"{path.name}: no packages")
    return versions


def read_input(path: Path) -> InputFile:
    """The pins of an ``.in`` file and of every file it includes with ``-r``."""
    pins: dict[str, str] = {}
    constraints: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            included = read_input(path.parent / line[3:].strip())
            pins.update(included.pins)
            constraints.extend(included.constraints)
        elif line.startswith("-c "):
            constraints.append(line[3:].strip())
        else:
            match = _PIN.match(line)
            if match is None:
                raise LockError(f"{path.name}: {line!r} is not pinned to one version (==)")
            pins[canonical(match[1])] = match[2]
    return InputFile(pins, tuple(dict.fromkeys(constraints)))


def check_consistency(name: str, root: Path = ROOT) -> dict[str, str]:
    """Points 1-3 for one lock: its versions, or LockError."""
    locked = read_lock(root / f"{name}.txt")
    wanted = read_input(root / f"{name}.in")
    for package, version in wanted.pins.items():
        if locked.get(package) != version:
            raise LockError(
                f"{name}.txt has {package} {locked.get(package, '(absent)')}; {name}.in pins "
                f"{version}: run make lock"
            )
    for constraint in wanted.constraints:
        other = read_lock(root / constraint)
        differ = sorted(p for p in locked.keys() & other.keys() if locked[p] != other[p])
        if differ:
            raise LockError(
                f"{name}.txt and {constraint} (its constraint) differ on "
                + ", ".join(f"{p} {locked[p]} vs {other[p]}" for p in differ)
            )
    return locked


def resolve_fixed(uv: str, name: str, locked: dict[str, str], root: Path = ROOT) -> dict[str, str]:
    """Point 4: the ``.in`` file resolved again, every locked version fixed."""
    with tempfile.TemporaryDirectory() as scratch:
        fixed = Path(scratch) / "locked-versions.txt"
        fixed.write_text("".join(f"{p}=={v}\n" for p, v in sorted(locked.items())))
        command = [
            uv, "pip", "compile", "--quiet", "--no-header", "--no-annotate",
            "--python-version", lock_python(root / f"{name}.in"),
            "--python-platform", PYTHON_PLATFORM,
            "--constraint", str(fixed), f"{name}.in",
        ]  # fmt: skip
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LockError(
            f"{name}.in cannot be resolved with the versions {name}.txt locks: "
            + (done.stderr.strip() or done.stdout.strip())[-2000:]
        )
    resolved: dict[str, str] = {}
    for line in done.stdout.splitlines():
        match = _PIN.match(line.strip())
        if match:
            resolved[canonical(match[1])] = match[2]
    return resolved


def check(uv: str, name: str, root: Path = ROOT) -> None:
    """Every point for one lock; LockError naming what is wrong."""
    locked = check_consistency(name, root)
    resolved = resolve_fixed(uv, name, locked, root)
    missing = sorted(resolved.keys() - locked.keys())
    extra = sorted(locked.keys() - resolved.keys())
    if missing or extra:
        raise LockError(
            f"{name}.txt is not exactly what {name}.in needs: "
            + (f"missing {', '.join(missing)}; " if missing else "")
            + (f"not needed {', '.join(extra)}; " if extra else "")
            + "run make lock"
        )


def main(argv: list[str] | None = None) -> int:
    """Check each lock; exit 1 naming the first problem of each, 0 when all keep."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("uv", help="the uv executable (the tools virtualenv's)")
    parser.add_argument("locks", nargs="*", help="lock names (default: every requirements*.in)")
    args = parser.parse_args(argv)
    args.locks = args.locks or lock_names()
    failed = 0
    for name in args.locks:
        try:
            check(args.uv, name)
        except LockError as exc:
            print(f"lock files: {exc}", file=sys.stderr)
            failed += 1
    if failed:
        return 1
    print(f"lock files: {len(args.locks)} locks pin what their .in files ask, complete and hashed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
