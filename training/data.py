"""Reading training tables: local paths or ``s3://`` URIs, comma or semicolon, BOM, gzip."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from predictor.io import s3_store
from predictor.io.csv.dialect import sniff_delimiter
from training.table_checks import check_header


@dataclass(frozen=True, slots=True)
class Table:
    """A training table with the fingerprint of the bytes it was read from."""

    frame: pd.DataFrame
    source: str
    sha256: str
    delimiter: str
    #: For a prefix: when each row's file was uploaded (epoch seconds, one per row).
    arrived: np.ndarray | None = None


def read_bytes(source: str, s3: Any | None = None) -> bytes:
    """The raw bytes of a local file or an ``s3://bucket/key`` object."""
    if source.startswith("s3://"):
        parsed = urlparse(source)
        if not parsed.netloc or not parsed.path.strip("/"):
            raise ValueError(f"not an S3 object URI: {source!r} (expected s3://bucket/key)")
        if s3 is None:
            raise ValueError("reading from S3 needs an S3 client")
        response = s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))
        return bytes(response["Body"].read())
    return Path(source).read_bytes()


def read_table(source: str, s3: Any | None = None, text_columns: Collection[str] = ()) -> Table:
    """Read a CSV (optionally gzipped) into a DataFrame with typed columns; a source
    ``s3://bucket/prefix/`` (ending in a slash) is every CSV under the prefix, in key
    order, with the same columns (retraining reads the data accumulated there).
    ``text_columns`` are read as text even when they look like numbers (zip codes).
    """
    if source.startswith("s3://") and source.endswith("/"):
        return _read_prefix(source, s3, text_columns)
    return _read_one(source, s3, text_columns)


def _read_prefix(source: str, s3: Any | None, text_columns: Collection[str] = ()) -> Table:
    parsed = urlparse(source)
    if s3 is None or not parsed.netloc:
        raise ValueError(f"reading {source!r} needs an S3 client and a bucket")
    prefix = parsed.path.lstrip("/")
    uploaded = {
        key: when
        for key, when in s3_store.list_uploads(s3, parsed.netloc, prefix)
        if key.endswith((".csv", ".csv.gz"))
    }
    keys = list(uploaded)
    if not keys:
        raise ValueError(f"{source}: no .csv or .csv.gz file under this prefix")
    tables = [_read_one(f"s3://{parsed.netloc}/{key}", s3, text_columns) for key in sorted(keys)]
    columns = list(tables[0].frame.columns)
    for table in tables[1:]:
        if list(table.frame.columns) != columns:
            raise ValueError(
                f"{table.source} has other columns than {tables[0].source}: "
                f"{', '.join(table.frame.columns)}"
            )
    digest = hashlib.sha256("".join(t.sha256 for t in tables).encode()).hexdigest()
    frame = pd.concat([t.frame for t in tables], ignore_index=True)
    arrived = np.concatenate(
        [np.full(len(t.frame), uploaded[key]) for key, t in zip(sorted(keys), tables, strict=True)]
    )
    return Table(frame, source, digest, tables[0].delimiter, arrived)


def _read_one(source: str, s3: Any | None = None, text_columns: Collection[str] = ()) -> Table:
    """Read a CSV (optionally gzipped) into a DataFrame with typed columns.

    UTF-8 with or without a byte-order mark; the delimiter is sniffed from the header;
    quoted headers are unquoted and stripped of surrounding spaces, and refused when two
    names are the same or one is empty (:func:`check_header`); pandas' usual
    missing-value markers (empty, ``NA``, ``NaN``, ``null``...) become missing values.
    """
    raw = read_bytes(source, s3)
    digest = hashlib.sha256(raw).hexdigest()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8-sig")
    if not text.split("\n", 1)[0].strip():
        raise ValueError(f"{source}: empty file or blank header line")
    delimiter = sniff_delimiter(text[:65536])
    header = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    check_header(header, source)
    # pandas names a column as read after the spaces a delimiter leaves (skipinitialspace)
    as_text = {
        variant: str
        for name in header
        if name.strip() in text_columns
        for variant in (name, name.lstrip())
    }
    frame = pd.read_csv(io.StringIO(text), sep=delimiter, skipinitialspace=True, dtype=as_text)
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise ValueError(f"{source}: no data rows")
    return Table(frame=frame, source=source, sha256=digest, delimiter=delimiter)
