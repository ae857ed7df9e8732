"""Hundreds of malformed requests: every one a 4xx with the JSON error shape, none a 5xx."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

from infra.lambda_context import LambdaContext
from tests.helpers import ROW, Artifacts, call, invoke, post
from training.registry_admin import ModelRegistry

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


# ----- the other protocols' routes and formats ---------------------------------------------
V2_COLUMN = {"name": "alcohol", "shape": [1], "datatype": "FP32", "data": [9.4]}


def _v2_all(data: list[Any] | None = None, **change: Any) -> dict[str, Any]:
    """One valid V2 input per wine column, with ``change`` applied to the first."""
    inputs = [
        {"name": c, "shape": [1], "datatype": "FP64", "data": [v] if data is None else data}
        for c, v in ROW.items()
    ]
    inputs[0] = {**inputs[0], **change}
    return {"inputs": inputs}


def protocol_cases(rng: random.Random) -> Iterator[tuple[str, str, str, bytes, dict[str, str]]]:
    """(kind, path, protocol, body, headers): malformed requests for the other routes."""
    one = json.dumps({"instances": [ROW]})
    for i in range(32):
        garbage = "".join(rng.choice('{}[]:,"ab1 \n\\') for _ in range(rng.randint(1, 30)))
        yield "v2 not json", "/v2/models/wine/infer", "v2", garbage.encode(), {}
        mangled = rng.choice(
            [
                {"inputs": "x"},
                {"inputs": [1]},
                {"inputs": [{"name": 1}]},
                {"inputs": [{"name": "x", "shape": "1"}]},
                {"inputs": [{"name": "x", "shape": [1, 2, 3], "datatype": "FP32", "data": [1]}]},
                {"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1]}]},
                {"inputs": [{**V2_COLUMN, "datatype": "FP8"}]},
                {"inputs": [V2_COLUMN, V2_COLUMN]},
                {"inputs": [{**V2_COLUMN, "data": [[1, [2]]]}]},
                {"inputs": [{**V2_COLUMN, "data": {"a": 1}}]},
                {"inputs": [{**V2_COLUMN, "shape": [2]}]},
                {"inputs": [{k: v for k, v in V2_COLUMN.items() if k != "data"}]},
                {**_v2_all(), "outputs": "predict"},
                {**_v2_all(), "outputs": [{"name": "predict_proba"}]},
                {**_v2_all(), "outputs": [{"name": rng.choice(["p", "", "PREDICT"])}]},
                {**_v2_all(), "parameters": [1]},
                {**_v2_all(), "parameters": {"classification": 2}},
                {**_v2_all(), "id": rng.choice([1, [], {}, True])},
                _v2_all(datatype="BOOL", data=[True]),
                _v2_all(datatype="INT8", data=[1000]),
                _v2_all(datatype="UINT8", data=[-1]),
                _v2_all(datatype="INT32", data=[1.5]),
                _v2_all(datatype="BYTES", data=[1]),
                _v2_all(datatype="FP64", data=["9.4"]),
                _v2_all(shape=[1, 2]),
                {
                    "inputs": [
                        {"name": "x", "shape": [1, 11], "datatype": "FP32", "data": [1] * 11},
                        V2_COLUMN,
                    ]
                },
            ]
        )
        yield "v2 bad request", "/v2/models/wine/infer", "v2", json.dumps(mangled).encode(), {}
        header = json.dumps(
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [1, 11],
                        "datatype": rng.choice(["FP32", "FP64", "BYTES"]),
                        "parameters": {"binary_data_size": rng.choice([0, 3, 44, 10**9, -4])},
                    }
                ]
            }
        ).encode()
        tail = bytes(rng.randrange(256) for _ in range(rng.choice([0, 3, 44, 45, 100])))
        length = rng.choice([str(len(header)), "0", "-1", "abc", str(len(header) + len(tail) + 9)])
        yield (
            "v2 broken binary",
            "/v2/models/wine/infer",
            "v2",
            header + tail,
            {"inference-header-content-length": length},
        )
        name = rng.choice(["nope", "..", "a" * 120, "wine%2F..", "WINE", "wine.1"])
        path = rng.choice([f"/v2/models/{name}/infer", f"/v2/models/wine/versions/{name}/infer"])
        yield "v2 unknown model", path, "v2", json.dumps(_v2_all()).encode(), {}
        form = rng.choice(
            [
                {},
                {"params": {}},
                {"instances": [ROW], "params": [1]},
                {"dataframe_records": ROW},
                {"dataframe_records": [ROW, [1]]},
                {"inputs": {"alcohol": [1, 2], "pH": [1]}},
                {"inputs": {"alcohol": [1], "pH": 3.5}},
                {"dataframe_split": {"data": [[1] * 11], "index": [0, 1]}},
                {"dataframe_split": {"data": [[1] * 11], "index": "0"}},
                {"dataframe_split": {"data": [[1] * 10]}},
                {"instances": [[1] * 11, ROW]},
                {"instances": [1, 2, 3]},
                {"inputs": [[1] * rng.randint(0, 10)]},
                {"inputs": [ROW], "extra": True},
            ]
        )
        yield "mlflow bad body", "/invocations", "mlflow", json.dumps(form).encode(), {}
        content_type = rng.choice(
            [
                "application/json; charset=latin-1",
                "application/json; charset=utf-16",
                "application/json; format=pandas-split",
                "application/json; orient=records",
                "text/csv; header=absent",
                "application/jsonlines; charset=ascii",
                "text/plain",
                "application/x-www-form-urlencoded",
            ]
        )
        yield (
            "mlflow bad content type",
            "/invocations",
            "mlflow",
            one.encode(),
            {"content-type": content_type},
        )
        lines = rng.choice(
            [
                '{"alcohol": 1}\n[1, 2]\n',
                "1\n",
                '"text"\n',
                "{\n",
                json.dumps(list(ROW.values())[:5]) + "\n",
                json.dumps(ROW) + "\n" + json.dumps({**ROW, "alcohol": "x"}) + "\n",
                "[1, 2]\n" * rng.randint(1, 3),
            ]
        )
        route = rng.choice(["/invocations", "/predict", "/models/wine/predict"])
        protocol = "mlflow" if route == "/invocations" else "ours"
        yield (
            "jsonlines",
            route,
            protocol,
            lines.encode(),
            {"content-type": "application/jsonlines"},
        )
        width = rng.choice([1, 5, 10, 12, 20])
        headerless = ",".join(["1.5"] * width) + "\n" + ",".join(["2"] * 11) + "\n"
        yield "headerless csv", route, protocol, headerless.encode(), {"content-type": "text/csv"}
        accept = rng.choice(["image/png", "text/html", "application/xml;q=1", "*/*;q=0", "x"])
        yield "accept", route, protocol, one.encode(), {"accept": accept}
        unknown = rng.choice(["nope", "..", "wine-2", "a" * 101])
        yield (
            "unknown model",
            rng.choice([f"/models/{unknown}/predict", "/invocations"]),
            "ours" if i % 2 else "mlflow",
            one.encode(),
            {"x-model-name": unknown},
        )


def _shape_ok(protocol: str, path: str, body: dict[str, Any]) -> bool:
    if path.startswith("/v2"):
        return set(body) == {"error"} and isinstance(body["error"], str) and body["error"] != ""
    ours = set(body.get("error", {})) == {"type", "message", "details"}
    if path == "/invocations":
        return ours and isinstance(body.get("error_code"), str) and "message" in body
    return ours


def test_every_malformed_request_on_the_other_protocols_is_a_4xx_in_their_shape(
    wine: str, limits: None, lambda_context: LambdaContext
) -> None:
    kinds: Counter[str] = Counter()
    wrong = []
    for kind, path, protocol, body, headers in protocol_cases(random.Random(11)):
        kinds[kind] += 1
        status, raw, _ = call("POST", path, body, headers, lambda_context)
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = {}
        if not (400 <= status < 500 and _shape_ok(protocol, path, answer)) or b"Traceback" in raw:
            wrong.append((kind, path, status, raw[:200]))
    print(f"\n{sum(kinds.values())} requests over the other protocols: {dict(kinds)}")
    assert sum(kinds.values()) >= 300
    assert min(kinds.values()) >= 30
    assert wrong == []
