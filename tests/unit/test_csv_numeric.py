"""The C reader of numeric columns agrees with the row path, value for value and row for row.

The batch scorer reads plain chunks of all-numeric models with pandas' C reader
(:mod:`predictor.io.csv.numeric`) and sends only the rows it cannot vouch for through the
row path. These tests pin that this changes nothing a user can see: the same output
bytes, the same error rows, the same counts, whatever the chunk holds.
"""

from __future__ import annotations

import io
import random
from typing import Any

import numpy as np
import pytest

from predictor.batch.chunks import ChunkScorer
from predictor.io.csv import numeric as csv_numeric
from predictor.io.csv.lines import open_text
from predictor.io.csv.numeric import PARSE_BUDGET, SMALLEST_PIECE, NumericColumns
from predictor.io.csv.stream import CsvStream
from predictor.models.registry import LoadedModel
from predictor.schema import FeatureSchema
from tests.helpers import HEADER, ROWS, Artifacts, loaded_model


def score_both_ways(model: LoadedModel, text: str, chunk_rows: int) -> list[Any]:
    """Output text, error rows and counts: with the C reader, then with the row path only."""
    results = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csv_numeric, "MIN_LINES", 0)  # the C reader even for tiny chunks
        for use_c_reader in (True, False):
            data = text.encode("utf-8", "surrogateescape")
            stream = CsvStream(open_text(io.BytesIO(data), False))
            scorer = ChunkScorer(model, stream.columns, stream.delimiter)
            assert scorer._numeric is not None  # an all-numeric model: the C reader is on
            if not use_c_reader:
                scorer._numeric = None
            output, problems = "", []
            for chunk in stream.chunks(chunk_rows, scorer.check_record):
                text_out, found = scorer.score(chunk)
                output += text_out
                problems += found
            results.append((output, problems, scorer.rows.to_dict()))
    return results


def random_decimal(rng: random.Random) -> str:
    """Hard cases for a float parser: up to 25 significant digits, exponents to the edges."""
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 25)))
    point = rng.randint(0, len(digits))
    text = digits[:point] + "." + digits[point:]
    if rng.random() < 0.5:
        text += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randint(0, 50))
    return rng.choice(["", "-", "+"]) + text


def test_values_are_the_float32_the_row_path_computes() -> None:
    rng = random.Random(7)
    tokens = [random_decimal(rng) for _ in range(30_000)]
    columns = NumericColumns(";", 2, [0])
    values, final = columns.parse([f"{token};x" for token in tokens])
    with np.errstate(over="ignore"):
        expected = np.array([float(token) for token in tokens]).astype(np.float32)
    in_range = np.isfinite(expected)  # beyond float32, the row path refuses the row
    assert 20_000 < np.count_nonzero(in_range) < 30_000
    assert np.array_equal(final, in_range)
    assert np.array_equal(values[final, 0].view(np.int32), expected[final].view(np.int32))


#: Tokens pandas reads differently from the number rule, so their lines are screened out
#: before it sees them, and their ordinary neighbours.
SCREENED = [
    "+7.4e 0",  # pandas reads "+<number>e <digits>" as a number; the rule does not
    "+1.5e\t-3",
    "+25.943861961364746 ",  # a "+" with padding: pandas' fallback parser, a bit off
    " +7475.8259277343750",
    "\ufeff7.4",  # a byte-order mark that pandas drops at the start of its text
    "1e+05",
    "+7.4",
]

#: Tokens the number rule and pandas' reader may judge differently, and ordinary ones.
HOSTILE = [
    "7.4",
    " 7.4",
    "7.4 ",
    "\t7.4\t",
    "\x0b7.4",
    "7.4\x0c",
    "",
    " ",
    "inf",
    "-Infinity",
    "nan",
    "NaN",
    "1_0",
    "\uff17",
    "\u0667",
    "7,4",
    "0x10",
    "1e",
    ".",
    "-",
    "+.5",
    "1.e1",
    "1e400",
    "1e-400",
    "3.4028235e38",
    "-3.4028235e38",
    "3.4028236e38",
    "NA",
    "null",
    "7.4\x00",
    "\udcff",
    "7.4\u00a0",
    "\u00a07.4",
    "9" * 4400,
    "--1",
    "1e+",
    "e5",
    *SCREENED,
]


#: Tokens pandas reads without failing the block although the rule refuses them, or the
#: row path must judge them: with only these, whole chunks stay on the C reader.
PANDAS_READS = [
    "7.4",
    " 7.4",
    "\x0b7.4",
    "7.4\x0c",
    "",
    "inf",
    "-Infinity",
    "1e400",
    "3.4028236e38",
    "3.4028235e38",
    "1e-400",
    "9" * 4400,
    *SCREENED,
]


@pytest.mark.parametrize(
    ("tokens", "chunk_rows"),
    [(HOSTILE, 1), (HOSTILE, 7), (HOSTILE, 1000), (PANDAS_READS, 7), (PANDAS_READS, 1000)],
)
def test_hostile_values_give_the_row_path_s_verdicts(
    wine_linear: Artifacts, tokens: list[str], chunk_rows: int
) -> None:
    rng = random.Random(chunk_rows)
    lines = [HEADER]
    for _ in range(600):
        fields = rng.choice(ROWS).split(";")
        roll = rng.random()
        if roll < 0.15:
            fields[rng.randrange(len(fields))] = rng.choice(tokens)
        elif roll < 0.18:
            fields.append("9")  # too many fields (pandas would drop it)
        elif roll < 0.21:
            del fields[rng.randrange(len(fields))]
        elif roll < 0.22:
            fields = []  # a blank line
        elif roll < 0.25:
            fields[-1] = "caf\u00e9 \u2014 ok"  # text in a column the model does not use
        lines.append(";".join(fields))
    with_c, rows_only = score_both_ways(
        loaded_model(wine_linear), "\n".join(lines) + "\n", chunk_rows
    )
    assert with_c == rows_only
    counts = with_c[2]  # both kinds of row were there
    assert counts["rejected"] > 50
    assert counts["scored"] > 400


def test_a_nullable_column_s_missing_values_take_the_row_path(wine_linear: Artifacts) -> None:
    model = loaded_model(wine_linear)
    schema = model.predictor.schema.to_dict()
    schema[0]["nullable"] = True
    model.predictor.schema = FeatureSchema.from_dict(schema)
    lines = [HEADER] + [
        ";" + row.split(";", 1)[1] if i % 3 == 0 else row for i, row in enumerate(ROWS)
    ]
    with_c, rows_only = score_both_ways(model, "\n".join(lines) + "\n", 50)
    assert with_c == rows_only


def test_one_bad_value_costs_a_small_piece_not_the_chunk() -> None:
    lines = [f"{i};{i / 7}" for i in range(20_000)]
    lines[12_345] = "12345;abc"
    values, final = NumericColumns(";", 2, [1, 0]).parse(lines)
    assert not final[12_345]
    assert 1 <= np.count_nonzero(~final) <= SMALLEST_PIECE
    good = np.flatnonzero(final)
    assert np.array_equal(values[good, 1], good.astype(np.float32))  # model order kept


def test_bad_values_everywhere_cost_at_most_the_parse_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    columns = NumericColumns(";", 2, [1])
    handed: list[int] = []
    read = columns._read

    def counting(lines: list[str]) -> np.ndarray:
        handed.append(len(lines))
        return read(lines)

    monkeypatch.setattr(columns, "_read", counting)
    lines = [f"{i};{'abc' if i % 10 == 0 else i}" for i in range(20_000)]
    _, final = columns.parse(lines)
    assert not final[::10].any()
    assert sum(handed) <= PARSE_BUDGET * len(lines)


@pytest.mark.parametrize("where", [0, 125, 250, 500, 501])
def test_a_byte_order_mark_where_a_piece_starts_is_refused(
    wine_linear: Artifacts, where: int
) -> None:
    """pandas drops a BOM at the start of the text it reads: such a line never reaches it."""
    rows = [ROWS[i % len(ROWS)] for i in range(1000)]
    rows[0] = "abc" + rows[0][rows[0].index(";") :]  # a bad value: the block is cut
    rows[where] = "\ufeff" + rows[where]
    text = "\n".join([HEADER, *rows]) + "\n"
    with_c, rows_only = score_both_ways(loaded_model(wine_linear), text, 1000)
    assert with_c == rows_only
    assert with_c[2]["rejected"] == (1 if where == 0 else 2)


def test_plus_signs_with_padding_give_the_row_path_s_floats(wine_linear: Artifacts) -> None:
    rng = random.Random(5)
    rows = []
    for _ in range(2000):
        fields = rng.choice(ROWS).split(";")
        position = rng.randrange(11)
        # just beside the midpoint of two float32 neighbours: one bit of float64 error
        # picks the other float32
        low = np.float32(rng.uniform(0.5, 50.0))
        middle = (float(low) + float(np.nextafter(low, np.float32(np.inf)))) / 2
        value = "+" + f"{middle * (1 + rng.choice([-1, 1]) * 2e-16):.19f}"
        fields[position] = rng.choice([" ", "", "\t"]) + value + rng.choice([" ", "\t"])
        rows.append(";".join(fields))
    text = "\n".join([HEADER, *rows]) + "\n"
    with_c, rows_only = score_both_ways(loaded_model(wine_linear), text, 500)
    assert with_c == rows_only


def test_a_few_bad_values_cost_only_the_pieces_around_them() -> None:
    lines = [f"{i};{i / 7}" for i in range(50_000)]
    bad = [3_000, 11_111, 24_680, 37_000, 49_999]
    for index in bad:
        lines[index] = f"{index};abc"
    _, final = NumericColumns(";", 2, [1]).parse(lines)
    assert not final[bad].any()
    assert np.count_nonzero(~final) <= len(bad) * SMALLEST_PIECE
