"""Report the unzipped size of each built function; fail above Lambda's 250 MB limit."""

from __future__ import annotations

import sys
from pathlib import Path

LIMIT_BYTES = 250 * 1024 * 1024  # functions and layers together, unzipped


def tree_size(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    build = Path(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build")
    functions = sorted(p for p in build.iterdir() if p.is_dir())
    if not functions:
        print(f"no built functions under {build}", file=sys.stderr)
        return 1
    too_big = False
    for folder in functions:
        size = tree_size(folder)
        verdict = "ok" if size <= LIMIT_BYTES else "OVER THE LIMIT"
        too_big |= size > LIMIT_BYTES
        print(f"{folder.name:20} {size / 2**20:7.1f} MiB unzipped (limit 250 MiB) {verdict}")
    return 1 if too_big else 0


if __name__ == "__main__":
    raise SystemExit(main())
