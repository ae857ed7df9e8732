"""Photograph a local HTML page with Debian's headless Chromium (the README's pictures)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def chromium() -> str | None:
    """The system browser's path, or None (``apt-get install chromium``)."""
    return shutil.which("chromium")


def screenshot(
    browser: str, page: Path, out: Path, height: int, width: int = 1200, fragment: str = ""
) -> None:
    """Write ``out``, a PNG of ``page`` in a window of ``width`` by ``height`` pixels
    (scrolled to the element ``fragment`` names, if any)."""
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            f"--screenshot={out}",
            page.as_uri() + (f"#{fragment}" if fragment else ""),
        ],
        check=True,
        capture_output=True,
    )
