"""One peer serving a fitted pipeline, inside the peer's own virtualenv (run by
``bench/peers.py``; it imports nothing of this project).

``python bench/peer_worker.py PEER FOLDER MODEL.joblib`` writes the peer's files into
FOLDER (the Flask app as the wine tutorial writes it, the BentoML service, the MLflow
model directory), loads the peer in this process, then answers one JSON command per line
on stdin with one JSON line on stdout:

- ``{"op": "time", "rows": N, "calls": K, "budget_s": S}``: milliseconds of each of K
  calls (fewer once S seconds are spent) of N rows
  through the peer's in-process entry (MLflow's ``scoring_server.invocations``, BentoML's
  ASGI app and Flask's app through their test clients, or ``pipeline.predict`` on a
  DataFrame);
- ``{"op": "predict", "rows": N}``: the predictions of N rows (to check the peers agree);
- ``{"op": "server"}``: the command line that serves FOLDER over HTTP (``{port}`` in it),
  the path and the body of one request;
- ``{"op": "quit"}``.

PEER is ``plain``, ``flask``, ``mlflow`` or ``bentoml``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

#: One wine, as the benchmarks send it.
ROW = {
    "fixed acidity": 7.4, "volatile acidity": 0.7, "citric acid": 0.0, "residual sugar": 1.9,
    "chlorides": 0.076, "free sulfur dioxide": 11.0, "total sulfur dioxide": 34.0,
    "density": 0.9978, "pH": 3.51, "sulphates": 0.56, "alcohol": 9.4,
}  # fmt: skip

#: The wine tutorial's Flask app: load the pickle once, a DataFrame per request.
FLASK_APP = """
import sys
import joblib
import pandas as pd
from flask import Flask, jsonify, request

app = Flask(__name__)
model = joblib.load({model!r})


@app.route("/predict", methods=["POST"])
def predict():
    data = request.get_json()
    frame = pd.DataFrame(data["instances"])
    return jsonify({{"predictions": model.predict(frame).tolist()}})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]))
"""

#: A BentoML service as its quickstart writes one.
BENTO_SERVICE = """
import bentoml
import joblib
import pandas as pd


@bentoml.service
class Wine:
    def __init__(self) -> None:
        self.pipeline = joblib.load({model!r})

    @bentoml.api
    def predict(self, instances: list[dict]) -> list[float]:
        return self.pipeline.predict(pd.DataFrame(instances)).tolist()
"""


def records(rows: int) -> list[dict[str, float]]:
    return [ROW] * rows


class Peer:
    """The peer's in-process entry and its server command."""

    def __init__(self, kind: str, folder: Path, model: Path) -> None:
        self.kind, self.folder, self.model = kind, folder, model
        folder.mkdir(parents=True, exist_ok=True)
        getattr(self, f"_load_{kind}")()

    def _load_plain(self) -> None:
        import joblib
        import pandas as pd

        pipeline = joblib.load(self.model)
        self.call = lambda rows: pipeline.predict(pd.DataFrame(records(rows))).tolist()
        self.command: list[str] = []
        self.path, self.body = "", lambda rows: {}

    def _load_flask(self) -> None:
        (self.folder / "flask_app.py").write_text(FLASK_APP.format(model=str(self.model)))
        sys.path.insert(0, str(self.folder))
        import flask_app  # type: ignore[import-not-found]

        client = flask_app.app.test_client()

        def call(rows: int) -> Any:
            # The body as a client sends it (the test client's json= would sort the keys,
            # and the tutorial's app takes the columns in the order they come).
            body = json.dumps({"instances": records(rows)})
            answer = client.post("/predict", data=body, content_type="application/json")
            assert answer.status_code == 200, answer.data
            return answer.get_json()["predictions"]

        self.call = call
        self.command = [sys.executable, str(self.folder / "flask_app.py"), "{port}"]
        self.path, self.body = "/predict", lambda rows: {"instances": records(rows)}

    def _load_mlflow(self) -> None:
        import joblib
        import mlflow.sklearn
        import pandas as pd
        from mlflow.pyfunc import load_model, scoring_server

        saved = self.folder / "mlflow-model"
        if not saved.exists():
            example = pd.DataFrame(records(2))
            # cloudpickle, as the pickle it comes from (skops would ask which types to trust).
            mlflow.sklearn.save_model(
                joblib.load(self.model), str(saved), input_example=example,
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            )  # fmt: skip
        model = load_model(str(saved))
        schema = model.metadata.get_input_schema()

        def call(rows: int) -> Any:
            body = json.dumps({"dataframe_records": records(rows)})
            answer = scoring_server.invocations(body, "application/json", model, schema)
            assert answer.status == 200, answer.response
            return json.loads(answer.response)["predictions"]

        self.call = call
        mlflow_cli = str(Path(sys.executable).parent / "mlflow")
        self.command = [mlflow_cli, "models", "serve", "-m", str(saved), "-h", "127.0.0.1",
                        "-p", "{port}", "--env-manager", "local"]  # fmt: skip
        self.path, self.body = "/invocations", lambda rows: {"dataframe_records": records(rows)}

    def _load_bentoml(self) -> None:
        (self.folder / "service.py").write_text(BENTO_SERVICE.format(model=str(self.model)))
        sys.path.insert(0, str(self.folder))
        import service  # type: ignore[import-not-found]
        from starlette.testclient import TestClient

        client = TestClient(service.Wine.to_asgi())
        client.__enter__()  # runs the service's startup: the model is loaded

        def call(rows: int) -> Any:
            answer = client.post("/predict", json={"instances": records(rows)})
            assert answer.status_code == 200, answer.text
            return answer.json()

        self.call = call
        bentoml_cli = str(Path(sys.executable).parent / "bentoml")
        self.command = [bentoml_cli, "serve", "service:Wine", "--host", "127.0.0.1",
                        "--port", "{port}"]  # fmt: skip
        self.path, self.body = "/predict", lambda rows: {"instances": records(rows)}


def main(argv: list[str]) -> int:
    kind, folder, model = argv[0], Path(argv[1]), Path(argv[2])
    os.chdir(folder.parent)
    peer = Peer(kind, folder, model)
    for _ in range(50):  # warm: first calls build caches
        peer.call(1)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "quit":
            break
        if op == "time":
            samples = []
            deadline = time.perf_counter() + command.get("budget_s", float("inf"))
            for _ in range(command["calls"]):
                started = time.perf_counter()
                peer.call(command["rows"])
                samples.append((time.perf_counter() - started) * 1000)
                if started > deadline:  # a slow model: fewer calls, the same rounds
                    break
            print(json.dumps({"ms": samples}), flush=True)
        elif op == "predict":
            print(json.dumps({"predictions": peer.call(command["rows"])}), flush=True)
        elif op == "server":
            print(json.dumps({"command": peer.command, "path": peer.path, "body": peer.body(1),
                              "cwd": str(folder), "bin": str(Path(sys.executable).parent)}),
                  flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
