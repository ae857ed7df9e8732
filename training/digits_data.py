"""``python -m training.digits_data [path]``: the digits data set as a CSV.

scikit-learn bundles a copy of the UCI handwritten digits (1,797 images of 8x8 integer
pixels, 0 to 16, with the digit each shows). This writes them as one CSV row an image:
64 pixel columns ``p_<row>_<column>`` (row-major, as the image is read) and ``digit``,
comma-separated, in scikit-learn's order. The same scikit-learn gives the same bytes; a
test checks the committed ``data/digits.csv`` against a fresh run.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

SIDE = 8
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "digits.csv"


def pixel_columns() -> list[str]:
    """The 64 pixel column names, row by row."""
    return [f"p_{row}_{column}" for row in range(SIDE) for column in range(SIDE)]


def digits_csv() -> bytes:
    """The CSV text of every image of scikit-learn's digits."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    out = io.StringIO()
    out.write(",".join([*pixel_columns(), "digit"]) + "\n")
    for pixels, digit in zip(digits.data.astype(int), digits.target, strict=True):
        out.write(",".join(str(v) for v in pixels) + f",{int(digit)}\n")
    return out.getvalue().encode()


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_PATH
    data = digits_csv()
    path.write_bytes(data)
    images = data.count(b"\n") - 1
    print(f"{path}: {images} images, {len(data):,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
