"""Report the unzipped size of each built function; fail above Lambda's 250 MB limit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

LIMIT_BYTES = 250 * 1024 * 1024  # functions and layers together, unzipped


def tree_size(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    build = Path(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build")
    report = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    functions = sorted(p for p in build.iterdir() if p.is_dir())
    if not functions:
        print(f"no built functions under {build}", file=sys.stderr)
        return 1
    too_big = False
    sizes = {}
    for folder in functions:
        size = sizes[folder.name] = tree_size(folder)
        verdict = "ok" if size <= LIMIT_BYTES else "OVER THE LIMIT"
        too_big |= size > LIMIT_BYTES
        print(f"{folder.name:20} {size / 2**20:7.1f} MiB unzipped (limit 250 MiB) {verdict}")
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps({"limit_bytes": LIMIT_BYTES, "unzipped_bytes": sizes}))
    return 1 if too_big else 0


if __name__ == "__main__":
    raise SystemExit(main())
