"""tritonclient[http] against a running API; run by .venv-clients' Python, not by pytest.

``python tritonclient_checks.py HOST:PORT REGRESSOR CLASSIFIER ROWS_JSON`` speaks to the
API exactly as a Triton or KServe user's code would (binary tensors by default, JSON when
asked) and prints one JSON document of what it got back; the calling test compares it
with the API's own answers.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def checks(url: str, regressor: str, classifier: str, rows: np.ndarray) -> dict[str, Any]:
    client = httpclient.InferenceServerClient(url=url, network_timeout=30.0)
    out: dict[str, Any] = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(regressor),
        "unknown_model_ready": client.is_model_ready("no-such-model"),
        "server_metadata": client.get_server_metadata(),
    }
    metadata = client.get_model_metadata(regressor)
    out["metadata"] = metadata
    out["version_ready"] = client.is_model_ready(regressor, model_version=metadata["versions"][0])

    # One [N, F] tensor, tritonclient's defaults: binary data in and out.
    tensor = httpclient.InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    result = client.infer(regressor, [tensor])
    out["predict_binary"] = result.as_numpy("predict").tolist()

    # One input per column as JSON, the output asked for as JSON, with a request id.
    columns = []
    for position, spec in enumerate(metadata["inputs"]):
        column = httpclient.InferInput(spec["name"], [len(rows), 1], "FP32")
        column.set_data_from_numpy(rows[:, position : position + 1], binary_data=False)
        columns.append(column)
    wanted = [httpclient.InferRequestedOutput("predict", binary_data=False)]
    result = client.infer(regressor, columns, outputs=wanted, request_id="req-42")
    out["predict_json"] = result.as_numpy("predict").tolist()
    out["request_id"] = result.get_response()["id"]

    # At a registry version rather than the alias.
    result = client.infer(regressor, [tensor], model_version=metadata["versions"][0])
    out["predict_version"] = result.as_numpy("predict").tolist()

    # A classifier's probabilities and labels.
    wanted = [
        httpclient.InferRequestedOutput("predict_proba"),
        httpclient.InferRequestedOutput("predict", binary_data=False),
    ]
    result = client.infer(classifier, [tensor], outputs=wanted)
    out["proba"] = result.as_numpy("predict_proba").tolist()
    out["labels"] = result.as_numpy("predict").tolist()

    # Refusals reach the client as exceptions carrying the server's message.
    for name, call in {
        "regressor_proba": lambda: client.infer(
            regressor, [tensor], outputs=[httpclient.InferRequestedOutput("predict_proba")]
        ),
        "unknown_model": lambda: client.infer("no-such-model", [tensor]),
    }.items():
        try:
            call()
            out[name] = None
        except InferenceServerException as exc:
            out[name] = {"status": exc.status(), "message": exc.message()}
    client.close()
    return out


if __name__ == "__main__":
    url, regressor, classifier, rows_json = sys.argv[1:5]
    rows = np.asarray(json.loads(rows_json), dtype=np.float32)
    print(json.dumps(checks(url, regressor, classifier, rows)))
