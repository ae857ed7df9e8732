"""Request bodies to raw input columns, within the configured size limits.

Bodies: JSON in MLflow's scoring protocol (``dataframe_split``, ``dataframe_records``,
``instances``, ``inputs``, optional ``params``), CSV with or without a header, and JSON
Lines (SageMaker's ``application/jsonlines``). Rows given without names are read in the
model's column order.

Every client mistake becomes a typed :class:`~predictor.errors.RequestError`; the columns
then go to :func:`predictor.serving.scoring.score_rows`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from predictor.errors import MalformedRequestError, PayloadTooLargeError, UnsupportedMediaTypeError
from predictor.protocols.json_bodies import parse_json
from predictor.protocols.text_bodies import parse_csv, parse_jsonlines
from predictor.rows import ParsedRequest
from predictor.schema import FeatureSchema
from predictor.values import shortened

JSON_TYPES = frozenset({"application/json"})


CSV_TYPES = frozenset({"text/csv", "application/csv"})


#: JSON Lines, under the names SageMaker and others use for it.
JSONLINES_TYPES = frozenset(
    {"application/jsonlines", "application/jsonl", "application/x-jsonlines"}
)


#: What the request-body error messages offer.
ACCEPTED_TYPES = "application/json, text/csv or application/jsonlines"


@dataclass(frozen=True, slots=True)
class ContentType:
    """A request's media type, its parameters checked.

    ``charset=utf-8`` is taken on every type; on CSV, RFC 4180's ``header=present`` or
    ``header=absent`` says whether the first row names the columns (``header`` is None
    when the client did not say).
    """

    media: str
    header: bool | None = None

    @classmethod
    @functools.lru_cache(maxsize=64)  # the same few headers, request after request
    def parse(cls, header: str | None) -> ContentType:
        """Parse a Content-Type header: 415 for a charset other than UTF-8, or another parameter."""
        media, *parameters = (header or "").split(";")
        media = media.strip().lower()
        has_header: bool | None = None
        unknown: list[str] = []
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            key, value = key.strip().lower(), value.strip().strip('"').lower()
            if not key and not value:
                continue  # "application/json;" has an empty parameter list
            if key == "charset":
                if value not in ("utf-8", "utf8"):
                    raise UnsupportedMediaTypeError(
                        f"charset {shortened(value)!r} is not supported: send UTF-8 "
                        "(charset=utf-8, or no charset)"
                    )
            elif key == "header" and media in CSV_TYPES:
                if value not in ("present", "absent"):
                    raise UnsupportedMediaTypeError(
                        f"header={shortened(value)!r}: say header=present (the first row "
                        "names the columns) or header=absent (every row is values)"
                    )
                has_header = value == "present"
            else:
                unknown.append(key)
        if unknown:
            raise UnsupportedMediaTypeError(
                "unrecognized content type parameter(s): "
                + ", ".join(repr(shortened(k)) for k in unknown)
                + " (accepted: charset=utf-8; for CSV, header=present or header=absent)"
            )
        return cls(media, has_header)


def parse_request(
    body: bytes,
    content_type: str | None,
    max_rows: int,
    max_bytes: int,
    schema: FeatureSchema,
) -> ParsedRequest:
    """Parse a request body into columns, enforcing the size limits.

    Rows given as lists (``instances`` of lists, ``dataframe_split`` without ``columns``,
    JSON Lines arrays, a CSV without a header) are read in the order of ``schema``'s
    columns, and one of another width is a 422 naming it.
    """
    if len(body) > max_bytes:
        raise PayloadTooLargeError(f"request body is {len(body)} bytes; the limit is {max_bytes}")
    content = ContentType.parse(content_type)
    kind = content.media
    schema_names = schema.names
    if kind not in JSON_TYPES and kind not in CSV_TYPES and kind not in JSONLINES_TYPES:
        raise UnsupportedMediaTypeError(
            f"unsupported content type {shortened(kind) or '(none)'!r}: send {ACCEPTED_TYPES}"
        )
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedRequestError(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from exc
    if kind in CSV_TYPES:
        parsed = parse_csv(text, max_rows, schema, content.header)
    elif kind in JSONLINES_TYPES:
        parsed = parse_jsonlines(text, max_rows, schema_names)
    else:
        parsed = parse_json(text, schema_names)
    if parsed.n_rows == 0:
        raise MalformedRequestError("the request has no rows")
    if parsed.n_rows > max_rows:
        raise PayloadTooLargeError(f"request has {parsed.n_rows} rows; the limit is {max_rows}")
    return parsed
