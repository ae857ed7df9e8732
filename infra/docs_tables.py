"""Tables in ``docs/`` generated from the code, so the docs cannot drift from it.

Each table stands between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->`` in its
page; ``make docs`` writes them and a test fails while any is stale. Today: ``settings``,
every environment variable the functions read (from :class:`predictor.settings.Settings`).

    python -m infra.docs_tables          # rewrite the tables
    python -m infra.docs_tables --check  # exit 1, naming the stale tables
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value in ("", ()):
        return "empty"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def field_comments(source: Path, class_name: str) -> dict[str, str]:
    """The ``#:`` comment above each field of ``class_name`` in ``source`` (as Sphinx reads
    them), one line of text per field."""
    lines = source.read_text().splitlines()
    tree = ast.parse("\n".join(lines))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name]
    comments: dict[str, str] = {}
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above = node.lineno - 2
            text: list[str] = []
            while above >= 0 and lines[above].strip().startswith("#:"):
                text.insert(0, lines[above].strip().removeprefix("#:").strip())
                above -= 1
            comments[node.target.id] = " ".join(text)
    return comments


def settings_table() -> str:
    """One row per variable: name, default, what a valid value is, what it sets."""
    from predictor import settings
    from predictor.settings import Settings

    comments = field_comments(Path(settings.__file__), "Settings")
    rows = [
        "| variable | default | valid values | what it sets |",
        "|---|---|---|---|",
    ]
    for variable in Settings.variables():
        about = comments[variable.field].replace("``", "`")
        if not about:
            raise ValueError(f"Settings.{variable.field} has no #: comment to describe it")
        valid = variable.rule.valid.replace("*", "\\*")  # Markdown's emphasis
        rows.append(f"| `{variable.name}` | {_cell(variable.default)} | {valid} | {about} |")
    return "\n".join(rows)


#: Each generated table: its name, the page it stands in, the function that draws it.
TABLES: dict[str, tuple[str, Callable[[], str]]] = {
    "settings": ("docs/configuration.md", settings_table),
}


def _block(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- generated: {name} -->\n)(.*?)(<!-- end: {name} -->)", flags=re.DOTALL
    )


def rendered(root: Path = ROOT) -> dict[Path, tuple[str, str]]:
    """Each page with a table: (its text now, its text with every table drawn anew)."""
    pages: dict[Path, tuple[str, str]] = {}
    for name, (page, draw) in TABLES.items():
        path = root / page
        before, current = pages.get(path, (path.read_text(), path.read_text()))
        block = _block(name)
        if block.search(current) is None:
            raise ValueError(f"{page} has no <!-- generated: {name} --> block")
        found = block.search(current)
        assert found is not None
        current = current[: found.start(2)] + draw() + "\n" + current[found.end(2) :]
        pages[path] = (before, current)
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    args = parser.parse_args(argv)
    stale = []
    for path, (before, after) in rendered().items():
        if before == after:
            continue
        stale.append(path.relative_to(ROOT))
        if not args.check:
            path.write_text(after)
    for path in stale:
        print(f"{path}: {'stale (make docs)' if args.check else 'tables written'}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "functions"))
    sys.exit(main())
