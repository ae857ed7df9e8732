"""A plain chunk's numeric model columns, parsed in C by pandas' reader.

The row path (split each line, transpose, ``float()`` each cell, see
:mod:`predictor.values`) spends most of a batch run in Python. pandas' C tokenizer and
float parser read the same columns of the same lines many times faster, but it is only
trusted where its verdict provably equals the number rule's; every other row goes to the
row path, which accepts or refuses it with its usual reason. Measured against the rule:

- its float parser is correctly rounded: the same float64 as ``float()`` for every token
  the rule accepts (``tests/unit/test_csv_numeric.py`` compares them), except a token
  with a ``+`` sign and space or tab padding, which it reads with an older parser that
  can be one bit off and which takes ``+1e 1`` as 10: a line with both a ``+`` and a
  space or tab is screened out;
- it accepts other tokens the rule refuses, all sent to the row path: numbers padded
  with a vertical tab or form feed, and a byte-order mark at the start of the text it is
  given (lines holding one are screened out), ``inf``/``infinity`` words and numbers
  beyond float32 (a value that is not finite as float32 marks its row), and lines with
  more fields than the header (it drops the extra fields silently, so fields are counted
  on every line);
- a missing value is NaN, which marks its row too (the row path knows whether the
  column allows one);
- any other token it cannot read fails the whole block: the block is cut into
  :data:`FANOUT` pieces, each read again, and a failing piece cut again, down to pieces
  of at most :data:`SMALLEST_PIECE` lines, which go to the row path. A bad value costs
  the lines around it, not the chunk. The cutting stops once the lines parsed reach
  :data:`PARSE_BUDGET` times the chunk's (enough for about seven bad values in a
  50,000-line chunk): a chunk with bad values everywhere costs the row path plus three
  C passes, not one pass per cut.

Rows, lines and values never change places: a row marked for the row path is handed to
pandas as a blank line, which reads as a row of NaN.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from predictor.values import MISSING_MARKERS

#: The fewest lines a failing block is halved to before its lines go to the row path.
SMALLEST_PIECE = 256
#: How many pieces a failing block is cut into.
FANOUT = 8
#: How many times a chunk's lines the cutting may hand to pandas in all.
PARSE_BUDGET = 3
#: Fewer lines than this are not worth a pandas call (about 0.5 ms each): the row path.
MIN_LINES = 256

#: Characters that make pandas' verdict differ from the rule's, or that the reader
#: refuses anyway: NUL, vertical tab, form feed, a byte-order mark, bytes that were not
#: UTF-8 (lone surrogates from ``surrogateescape``) and the mark of a cut line; and a
#: ``+`` on a line that also holds a space or tab (either order).
_SCREENED = re.compile("[\x00\x0b\x0c\ufeff\ud800-\udfff]|\\+.*[ \t]|[ \t].*\\+")


class NumericColumns:
    """Reads the model's columns (all numeric) of plain CSV lines as float32."""

    def __init__(self, delimiter: str, width: int, positions: Sequence[int]) -> None:
        """``positions``: where each of the model's columns sits in a record, in model order."""
        self.delimiter = delimiter
        self.width = width
        self.positions = list(positions)
        self._used = sorted(set(self.positions))
        self._budget = 0  # lines the current chunk may still hand to pandas

    def parse(self, raws: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The values of ``raws`` (lines without endings) and which rows they are final for.

        Returns a float32 array of shape ``(len(raws), columns)`` in model order, and a
        boolean mask: True where the row's values are final (every value finite as
        float32, read as the number rule reads it), False where the row must go through
        the row path (its values are then meaningless).
        """
        n = len(raws)
        expected = self.width - 1
        delimiter = self.delimiter
        final = np.array([raw.count(delimiter) for raw in raws]) == expected
        text = "\n".join(raws)
        suspect = not (text.isascii() and "\x00" not in text and "\x0b" not in text)
        if suspect or "\x0c" in text or ("+" in text and (" " in text or "\t" in text)):
            for index, raw in enumerate(raws):
                if _SCREENED.search(raw):
                    final[index] = False
        lines = raws
        if not final.all():
            lines = [raw if ok else "" for raw, ok in zip(raws, final.tolist(), strict=True)]
        values = np.full((n, len(self.positions)), np.nan, dtype=np.float64)
        if final.any():
            self._budget = PARSE_BUDGET * n
            self._read_pieces(lines, 0, n, values, final)
        with np.errstate(over="ignore", invalid="ignore"):
            as_float32 = values.astype(np.float32)
        final &= np.isfinite(as_float32).all(axis=1)
        return as_float32, final

    def _read_pieces(
        self, lines: list[str], start: int, stop: int, values: np.ndarray, final: np.ndarray
    ) -> None:
        """Read ``lines[start:stop]`` into ``values``, cutting the block while it fails."""
        if self._budget < stop - start:
            final[start:stop] = False  # too many bad values around: the row path reads these
            return
        self._budget -= stop - start
        try:
            block = self._read(lines[start:stop])
        except ValueError:  # pandas' ParserError, EmptyDataError and UnicodeDecodeError too
            if stop - start <= SMALLEST_PIECE:
                final[start:stop] = False
                return
            step = -(-(stop - start) // FANOUT)  # ceiling division
            for piece in range(start, stop, step):
                self._read_pieces(lines, piece, min(piece + step, stop), values, final)
            return
        values[start:stop] = block

    def _read(self, lines: list[str]) -> np.ndarray:
        data = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
        frame = pd.read_csv(
            io.BytesIO(data),
            sep=self.delimiter,
            header=None,
            names=range(self.width),
            usecols=self._used,
            dtype=np.float64,
            engine="c",
            quoting=csv.QUOTE_NONE,
            keep_default_na=False,
            na_values=sorted(MISSING_MARKERS),  # NaN marks the row: the row path decides
            skip_blank_lines=False,
            index_col=False,
            low_memory=False,
        )
        if len(frame) != len(lines):
            raise ValueError(f"read {len(frame)} rows from {len(lines)} lines")
        values: np.ndarray = frame[self.positions].to_numpy(dtype=np.float64)
        return values
