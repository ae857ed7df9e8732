"""Hundreds of malformed requests: every one a 4xx with the JSON error shape, none a 5xx."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from infra.lambda_context import LambdaContext
from tests.helpers import ROW, Artifacts, invoke, post
from training.registry_admin import ModelRegistry

pytestmark = pytest.mark.integration

COLUMNS = list(ROW)
#: A valid row for the churn classifier (tests/conftest.py), beside the broken one.
ROW_OK = {"tenure months": 10, "plan": "team", "monthly fee": 40.0}


def cases(rng: random.Random) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind, event) pairs; each kind 45 times."""
    for i in range(45):
        garbage = "".join(rng.choice("{}[]:,\"'abc123 \n\t\\") for _ in range(rng.randint(1, 40)))
        yield "not json", post(garbage + "}" if garbage.startswith("{") else "x" + garbage)
        yield "empty body", post("" if i % 2 else "   ")
        kind = rng.choice(["text/plain", "application/xml", "multipart/form-data", "", "json"])
        yield "wrong content type", post(json.dumps({"instances": [ROW]}), kind or None)
        bad = post(json.dumps({"instances": [ROW]}))
        bad["isBase64Encoded"] = True
        bad["body"] = rng.choice(["%%%", "abc", "a=b=c=", "====", "Zm9v!"]) + "*" * i
        yield "bad base64", bad
        dropped = {k: v for k, v in ROW.items() if k != COLUMNS[i % len(COLUMNS)]}
        yield "missing feature", post(json.dumps({"instances": [dropped]}))
        shape = rng.choice(
            [
                {"inputs": [ROW], "instances": [ROW]},
                [ROW],
                42,
                "text",
                {"instances": ROW},
                {"instances": [[1, 2]]},
                {"dataframe_split": {"columns": COLUMNS}},
                {"instances": [ROW], "extra": 1},
                {"dataframe_split": {"columns": COLUMNS, "data": [list(ROW.values())], "x": 1}},
            ]
        )
        yield "unknown shape", post(json.dumps(shape))
        wrong = rng.choice(["7.4", True, None, [7.4], {"v": 7.4}, "", "NaN"])
        yield (
            "wrong type or null",
            post(json.dumps({"instances": [{**ROW, COLUMNS[i % 11]: wrong}]})),
        )
        token = rng.choice(["NaN", "Infinity", "-Infinity", "1e309", "-1e309", "1e39"])
        text = json.dumps({"instances": [ROW]}).replace('"alcohol": 9.4', f'"alcohol": {token}')
        yield "non-finite number", post(text)
        data = [list(ROW.values()), list(ROW.values())[: rng.randint(0, 10)]]
        yield (
            "ragged dataframe_split",
            post(json.dumps({"dataframe_split": {"columns": COLUMNS, "data": data}})),
        )
        yield "too many rows", post(json.dumps({"instances": [ROW] * rng.randint(6, 20)}))
        big = {"instances": [{**ROW, "note": "x" * rng.randint(3000, 9000)}]}
        yield "too many bytes", post(json.dumps(big), b64=bool(i % 2))
        csv_body = rng.choice(["a,b\n1\n", '"unclosed\n1', "\x00,\x00\n", "alcohol\nabc\n", ""])
        yield "bad csv", post(csv_body, "text/csv")
        one = json.dumps({"instances": [ROW]})
        twice = rng.choice(
            [
                '{"instances": [], ' + one[1:],  # "exactly one of" bypassed by a repeat
                one.replace('"alcohol": 9.4', '"alcohol": 9.4, "alcohol": 12.0'),
                '{"dataframe_split": {"columns": [], "columns": '
                + json.dumps(COLUMNS)
                + ', "data": ['
                + json.dumps(list(ROW.values()))
                + "]}}",
            ]
        )
        yield "duplicate keys", post(twice)
        loose = rng.choice(["3_4", "\uff17.\uff18", "\u0663.\u0665", "\xa09.4\xa0", "9.4\u2003"])
        header, values = ",".join(COLUMNS), ",".join(str(v) for v in ROW.values())
        yield "loose number", post(f"{header}\n{values.replace('9.4', loose)}\n", "text/csv")


def test_every_malformed_request_is_a_json_4xx(
    wine: str, limits: None, lambda_context: LambdaContext
) -> None:
    kinds: Counter[str] = Counter()
    wrong = []
    for kind, event in cases(random.Random(7)):
        kinds[kind] += 1
        status, body, _ = invoke(event, lambda_context)
        error = body.get("error", {})
        shape_ok = set(error) == {"type", "message", "details"}
        text = json.dumps(body)
        if not (400 <= status < 500 and shape_ok) or "Traceback" in text:
            wrong.append((kind, status, text[:200]))
    assert sum(kinds.values()) >= 500
    assert len(kinds) >= 10
    assert min(kinds.values()) >= 40
    assert wrong == []


def test_probed_numbers_and_keys(wine: str, lambda_context: LambdaContext) -> None:
    """Found by probing: huge integers, repeated keys, and one range rule for JSON and CSV."""
    huge = json.dumps({"instances": [ROW, ROW]}).replace('"pH": 3.51', '"pH": ' + "9" * 4301, 1)
    status, body, _ = invoke(post(huge), lambda_context)
    assert status == 422, body
    (detail,) = body["error"]["details"]
    assert (detail["row"], detail["column"]) == (0, "pH")
    assert "out of range" in detail["reason"]

    status, body, _ = invoke(
        post('{"instances": [{"x": 1}], "instances": [' + json.dumps(ROW) + "]}"), lambda_context
    )
    assert status == 400
    assert body["error"]["message"] == "JSON object has the key 'instances' more than once"

    # The largest float32, written as it usually is, is in range from JSON and CSV alike.
    edge = json.dumps({"instances": [ROW]}).replace('"alcohol": 9.4', '"alcohol": 3.4028235e38')
    assert invoke(post(edge), lambda_context)[0] == 200
    header, values = ",".join(COLUMNS), ",".join(str(v) for v in ROW.values())
    csv_edge = f"{header}\n{values.replace('9.4', '3.4028235e38')}\n"
    assert invoke(post(csv_edge, "text/csv"), lambda_context)[0] == 200
    for loose in ["3_4", "\uff17.\uff18", "\u0663.\u0665\u0661", "\xa09.4\xa0"]:
        status, body, _ = invoke(
            post(f"{header}\n{values.replace('9.4', loose)}\n", "text/csv"), lambda_context
        )
        assert status == 422, (loose, body)
        (detail,) = body["error"]["details"]
        assert (detail["row"], detail["column"], detail["reason"][:12]) == (
            0,
            "alcohol",
            "not a number",
        )


def test_control_characters_and_broken_unicode_in_categories_are_422(
    serve: ModelRegistry, churn_classifier: Artifacts, lambda_context: LambdaContext
) -> None:
    serve.set_alias("wine", "production", churn_classifier.publish(serve)["version"])
    rng = random.Random(11)
    controls = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]]
    surrogates = ["\ud800", "\udfff", "\udce9", "\udbff"]
    statuses: Counter[int] = Counter()
    for i in range(60):
        bad = rng.choice(controls if i % 2 else surrogates)
        plan = rng.choice(["", "pro", "basic", "tëam"]) + bad + rng.choice(["", "x", "é"])
        row = {"tenure months": 3, "plan": plan, "monthly fee": 20.5}
        if i % 3 == 0 and bad in controls and bad not in '\n\r"':
            event = post(f"tenure months,plan,monthly fee\n3,{plan},20.5\n", "text/csv")
        else:  # JSON escapes them: "\u0000", "\ud800"
            event = post(json.dumps({"instances": [dict(ROW_OK), row]}))
        status, body, _ = invoke(event, lambda_context)
        statuses[status] += 1
        assert status == 422, (repr(plan), body)
        detail = body["error"]["details"][-1]
        assert (detail["column"], detail["row"]) == (
            "plan",
            1 if "instances" in event["body"] else 0,
        )
        assert "control character or invalid Unicode" in detail["reason"]
    assert statuses == {422: 60}
    # Text that is valid Unicode is a category like any other (unknown ones included).
    for plan in ["été", "🍷 cellar", "日本語", "pro"]:
        row = {"tenure months": 3, "plan": plan, "monthly fee": 20.5}
        status, body, _ = invoke(post(json.dumps({"instances": [row]})), lambda_context)
        assert status == 200, body
        assert body["predictions"][0] in ("yes", "no")


def test_more_probed_requests(wine: str, lambda_context: LambdaContext) -> None:
    """Found by probing the fixes: overflowing predictions, CSV floods, odd names, long keys."""
    # Accepted extremes that overflow the model: a 422 naming the row, never NaN in JSON.
    extreme = {**ROW, "pH": 3.4e38, "sulphates": 3.4e38}
    status, body, _ = invoke(post(json.dumps({"instances": [ROW, extreme]})), lambda_context)
    assert status == 422, body
    (detail,) = body["error"]["details"]
    assert (detail["row"], detail["column"]) == (1, None)
    assert "not a finite number" in detail["reason"]
    # A CSV body of millions of line breaks is refused without holding a list per line.
    header, values = ",".join(COLUMNS), ",".join(str(v) for v in ROW.values())
    flood = f"{header}\n{values}\n" + "\n" * 5_000_000
    status, body, _ = invoke(post(flood, "text/csv"), lambda_context)
    assert status == 200, body
    too_many = f"{header}\n" + f"{values}\n" * 10_001
    status, body, _ = invoke(post(too_many, "text/csv"), lambda_context)
    assert (status, body["error"]["type"]) == (413, "payload_too_large")
    # A field over 128 KiB in a column the model ignores, in a fresh process as in any.
    wide = f"{header},note\n{values},{'n' * 200_000}\n"
    assert invoke(post(wide, "text/csv"), lambda_context)[0] == 200
    # Column names must be JSON strings, however long the integer.
    split = {"columns": [*COLUMNS, 1], "data": [[*ROW.values(), 1]]}
    text = json.dumps({"dataframe_split": split}).replace(", 1]", ", " + "7" * 5000 + "]", 1)
    status, body, _ = invoke(post(text), lambda_context)
    assert (status, body["error"]["type"]) == (400, "malformed_request")
    # A repeated key is named, but not echoed whole.
    key = "k" * 100_000
    repeated = '{"instances": [{"' + key + '": 1, "' + key + '": 2}]}'
    status, body, _ = invoke(post(repeated), lambda_context)
    assert status == 400
    assert len(body["error"]["message"]) < 200
