"""A request's rows as the validator takes them: columns of raw cells, by name, or in the
model's column order (any other width a 422 naming the row).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from predictor.errors import SchemaViolationError

#: The name of each row's inference id wherever rows are written: a batch output's
#: column, a kept prediction's, a joined row's, a labels file's.
INFERENCE_ID = "inference_id"
#: No generated id is older than this (2026-01-01): an id that reads older is a caller's.
FIRST_GENERATED = 1_767_225_600


def new_inference_id() -> str:
    """A fresh inference id: 32 hex digits, the first 11 the time in milliseconds (so a
    label that names one can be told too old for the predictions kept), then random."""
    return f"{int(time.time() * 1000):011x}{uuid.uuid4().hex[:21]}"


def generated_time(identity: str, now: float) -> float | None:
    """The time :func:`new_inference_id` made ``identity`` at; None for an id it did not
    make (a caller's ``uuid4().hex`` reads as a time before the product or in the future)."""
    if len(identity) != 32 or not all(c in "0123456789abcdef" for c in identity):
        return None
    made = int(identity[:11], 16) / 1000
    return made if FIRST_GENERATED <= made <= now + 86400 else None


class LazyColumns(Mapping[str, list[Any]]):
    """The columns of row-shaped input, each built only when asked for.

    Rows may carry any keys, and building a column for every distinct key would cost
    rows times keys: a small request of many rows, each with a key of its own, would
    take seconds and gigabytes. The validator asks only for the schema's columns and
    lists the other names, so the work stays proportional to the request's size plus
    rows times the schema's columns.
    """

    def __init__(self, names: Mapping[str, Any], column: Callable[[str], list[Any]]) -> None:
        self._names = names
        self._column = column

    def __getitem__(self, name: str) -> list[Any]:
        if name not in self._names:
            raise KeyError(name)
        return self._column(name)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """Raw input columns of a request; ``text`` tells CSV text from JSON values.

    ``ignored_params`` names the MLflow ``params`` the request carried: no model here
    takes any, so they are ignored and named in the response rather than refused.
    ``inference_id`` is an id the body gave (the Open Inference Protocol's ``id``).
    """

    columns: Mapping[str, Sequence[Any]]
    n_rows: int
    text: bool
    ignored_params: tuple[str, ...] = ()
    inference_id: str | None = None


def columns_by_position(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> LazyColumns:
    position = {name: i for i, name in enumerate(names)}
    return LazyColumns(position, lambda name: [row[position[name]] for row in rows])


#: How many rows of the wrong width one 422 names (its message counts them all).
MAX_WIDTH_ERRORS = 100


def check_widths(
    rows: Sequence[Sequence[Any]], width: int, expected: str, taker: str, first_row: int = 0
) -> None:
    """A 422 naming each row (the first :data:`MAX_WIDTH_ERRORS`) that has another number
    of values than ``width``: ``expected`` says what the values stand for, ``taker`` what
    has ``width`` of them ("the model takes"), ``first_row`` the request position of
    ``rows[0]``."""
    wrong = [row for row, values in enumerate(rows) if len(values) != width]
    if wrong:
        raise SchemaViolationError(
            f"{len(wrong)} row(s) do not have {width} values, {expected}; no row was scored",
            [
                {
                    "row": row + first_row,
                    "column": None,
                    "reason": f"row has {len(rows[row])} values; {taker} {width}",
                }
                for row in wrong[:MAX_WIDTH_ERRORS]
            ],
        )


def positional_rows(
    rows: Sequence[Sequence[Any]], names: Sequence[str], *, text: bool, first_row: int = 0
) -> ParsedRequest:
    """Rows of values in the schema's column order; any other width is a 422 naming the row.

    ``first_row`` is the request position of ``rows[0]`` (a CSV's header moves it).
    """
    width = len(names)
    in_order = f"{', '.join(names[:3])}{', ...' if width > 3 else ''}"
    expected = f"one per column of the model in its order ({in_order})"
    check_widths(rows, width, expected, "the model takes", first_row)
    return ParsedRequest(columns_by_position(names, rows), len(rows), text=text)


def row_ids(inference_id: str, rows: int) -> list[str]:
    """Each row's id: the inference id for a one-row request, ``<id>#<row>`` (from 0)
    for each row of a larger one."""
    if rows == 1:
        return [inference_id]
    return [f"{inference_id}#{row}" for row in range(rows)]
