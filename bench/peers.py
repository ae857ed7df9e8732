"""Against the servers people would pick instead: MLflow's scoring server, BentoML, a Flask
app as the wine tutorial writes it, and plain ``pipeline.predict``, each serving the same
fitted pipelines our training job makes, each from its own virtualenv and hashed lock
(``requirements-peer-*.txt``), every figure a ratio to ours measured in the same run.

``make bench-peers`` (all the wine models) or ``python -m bench.peers --models linear
--quick``. Three measures:

- in-process latency of 1 and 100 rows: our realtime handler on an API Gateway event, in
  this process; each peer in a worker process of its own virtualenv
  (``bench/peer_worker.py``). Rounds interleave the peers (the order rotating), so a
  change in the machine's load hits all of them; the table gives the median of the
  rounds' medians, the spread of those medians and the p99 of all calls.
- cold start: process start to the first answer. Ours: the built package
  (``.aws-sam/build``), as Lambda starts it without SnapStart (``bench/realtime.py``'s
  measure, from moto's S3). The peers: their server command (``mlflow models serve``,
  ``bentoml serve``, ``python app.py``) to its first HTTP 200 on loopback.
- loopback throughput: ``bench/load_client.py`` in a process of its own, a bounded
  number of clients for a few seconds against each server; ours is the realtime handler
  behind ``make run``'s local front (an emulator of API Gateway, not API Gateway).

Every process runs one BLAS/OpenMP thread (``OMP_NUM_THREADS=1``), as our function's
onnxruntime does. Writes results/peers.json.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bench.realtime import (
    COLD_HANDLER,
    RESULTS,
    ROOT,
    cold_start_seconds,
    lambda_environment,
    percentile,
    timed,
)

#: The peers, the virtualenv each runs in, and how the table names them.
PEERS = {
    "mlflow": (".venv-peer-mlflow", "MLflow scoring server"),
    "bentoml": (".venv-peer-bentoml", "BentoML"),
    "flask": (".venv-peer-flask", "Flask (wine tutorial)"),
    "plain": (".venv-peer-flask", "pipeline.predict"),
}
JSON = {"content-type": "application/json"}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CAVEATS = (
    "In-process: ours is the Lambda handler on an API Gateway event; MLflow is "
    "scoring_server.invocations(); BentoML its ASGI app and Flask its app through their "
    "test clients; each parses the JSON body and renders the JSON answer. Cold start: "
    "ours is the built package from process start to its first answer (no SnapStart); "
    "theirs their server command to its first HTTP 200. Throughput: ours runs behind "
    "make run's local front, an emulator of API Gateway, not API Gateway itself."
)


class Profile:
    """How long a run takes: the full bench, or the quick one for a change's note."""

    def __init__(self, quick: bool) -> None:
        self.rounds = 3 if quick else 5
        self.calls_1 = 200 if quick else 500
        self.calls_100 = 50 if quick else 200
        self.cold_runs = 1 if quick else 3
        self.load_seconds = 3.0 if quick else 5.0
        self.clients = 4
        #: Seconds one measurement may take (a slow peer makes fewer calls).
        self.budget_s = 2.0 if quick else 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Worker:
    """A peer in a process of its own virtualenv, answering bench/peer_worker.py's commands."""

    def __init__(self, peer: str, folder: Path, model: Path) -> None:
        venv = ROOT / PEERS[peer][0]
        python = venv / "bin" / "python"
        if not python.exists():
            raise SystemExit(f"no {venv.name}: make bench-peers creates it")
        self.log = folder.parent / f"{peer}.log"
        folder.mkdir(parents=True, exist_ok=True)
        log = self.log.open("w")
        self.process = subprocess.Popen(
            [str(python), str(ROOT / "bench" / "peer_worker.py"), peer, str(folder), str(model)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, **ONE_THREAD},
        )
        assert self.ask(None) == {"ready": True}

    def ask(self, command: dict[str, Any] | None) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        if command is not None:
            self.process.stdin.write(json.dumps(command) + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the peer's worker ended: {self.log.read_text()[-2000:]}")
        return dict(json.loads(line))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ask({"op": "quit"})
        self.process.wait(timeout=30)


def post(url: str, body: dict[str, Any], timeout: float = 2.0) -> int:
    """The status of one JSON POST to ``url`` on loopback."""
    parts = urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("POST", parts.path, json.dumps(body), JSON)
        answer = connection.getresponse()
        answer.read()
        return int(answer.status)
    finally:
        connection.close()


def start_server(spec: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str, float]:
    """The peer's server on a free port: the process, its URL, seconds to its first 200."""
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in spec["command"]]
    url = f"http://127.0.0.1:{port}{spec['path']}"
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=spec["cwd"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # As from its activated virtualenv: `mlflow models serve` runs `uvicorn` by name.
        env={**os.environ, **ONE_THREAD, "PATH": f"{spec['bin']}:{os.environ['PATH']}"},
        start_new_session=True,  # its workers too are stopped with it
    )
    deadline = started + 120
    while time.perf_counter() < deadline:
        with contextlib.suppress(OSError):
            if post(url, spec["body"]) == 200:
                return process, url, time.perf_counter() - started
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} ended with {process.returncode}")
        time.sleep(0.02)
    stop(process)
    raise RuntimeError(f"{' '.join(command)} did not answer within 120 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def load(url: str, body: dict[str, Any], profile: Profile) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.load_client", url, json.dumps(body),
         str(profile.clients), str(profile.load_seconds)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return dict(json.loads(done.stdout))


def summary(runs: list[list[float]]) -> dict[str, Any]:
    medians = [statistics.median(r) for r in runs]
    pooled = [v for r in runs for v in r]
    return {
        "median_ms": statistics.median(medians),
        "round_medians_ms": medians,
        "p99_ms": percentile(pooled, 0.99),
    }


def measure_model(kind: str, local: Any, folder: Path, profile: Profile) -> dict[str, Any]:
    """Every figure for one wine model our job trained (promoted as ``wine``)."""
    from bench.models import train_and_promote
    from infra.lambda_context import LambdaContext
    from infra.local_env import MODEL_BUCKET
    from infra.local_stack import serve_api
    from predictor.models.registry import RegistryReader
    from realtime import app

    manifest = train_and_promote(local.s3, MODEL_BUCKET, kind)
    pipeline_file = folder / kind / "model.joblib"
    pipeline_file.parent.mkdir(parents=True, exist_ok=True)
    key = RegistryReader(local.s3, MODEL_BUCKET).artifact_key(
        "wine", manifest["version"], "model.joblib"
    )
    pipeline_file.write_bytes(local.s3.get_object(Bucket=MODEL_BUCKET, Key=key)["Body"].read())
    event = json.loads((ROOT / "events/realtime_predict_json.json").read_text())
    from bench.peer_worker import ROW, records

    events = {}
    for rows in (1, 100):
        events[rows] = {**event, "body": json.dumps({"instances": records(rows)})}
    context = LambdaContext("bench")
    app.container.reset()
    assert app.lambda_handler(events[1], context)["statusCode"] == 200
    ours_predictions = json.loads(app.lambda_handler(events[1], context)["body"])["predictions"]
    workers = {peer: Worker(peer, folder / kind / peer, pipeline_file) for peer in PEERS}
    result: dict[str, Any] = {
        "model": kind,
        "onnx_bytes": manifest["artifacts"]["model.onnx"]["size"],
    }
    try:
        agreement = {
            peer: abs(
                worker.ask({"op": "predict", "rows": 1})["predictions"][0] - ours_predictions[0]
            )
            for peer, worker in workers.items()
        }
        result["largest_difference_from_ours"] = max(agreement.values())
        runs: dict[str, dict[int, list[list[float]]]] = {
            name: {1: [], 100: []} for name in ("ours", *PEERS)
        }
        order = ["ours", *PEERS]
        for round_number in range(profile.rounds):
            turn = order[round_number % len(order) :] + order[: round_number % len(order)]
            for name in turn:
                for rows, calls in ((1, profile.calls_1), (100, profile.calls_100)):
                    if name == "ours":
                        with contextlib.redirect_stdout(io.StringIO()):  # its metrics lines
                            samples = timed(
                                lambda e=events[rows]: app.lambda_handler(e, context), calls
                            )
                    else:
                        samples = workers[name].ask({"op": "time", "rows": rows, "calls": calls})[
                            "ms"
                        ]
                    runs[name][rows].append(samples)
        result["latency"] = {
            name: {str(rows): summary(by_rows[rows]) for rows in (1, 100)}
            for name, by_rows in runs.items()
        }
        servers = {peer: workers[peer].ask({"op": "server"}) for peer in PEERS if peer != "plain"}
    finally:
        for worker in workers.values():
            worker.close()
    # Cold start: ours from the built package; the peers' servers to their first 200.
    package = ROOT / ".aws-sam" / "build" / "RealtimeFunction"
    cold = {"ours": cold_start_seconds(
        COLD_HANDLER.format(package=str(package), infra=str(ROOT / "infra")),
        lambda_environment(package, **ONE_THREAD),
        runs=profile.cold_runs,
    )}  # fmt: skip
    throughput: dict[str, Any] = {}
    body = {"instances": [ROW]}
    for peer, spec in servers.items():
        seconds = []
        for run in range(profile.cold_runs):
            process, url, took = start_server(spec)
            seconds.append(took)
            if run == profile.cold_runs - 1:
                throughput[peer] = load(url, spec["body"], profile)
            stop(process)
        cold[peer] = {"median_s": statistics.median(seconds), "min_s": min(seconds),
                      "max_s": max(seconds)}  # fmt: skip
    port = free_port()
    server = serve_api(app.lambda_handler, 6 * 1024 * 1024, port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    quiet = io.StringIO()  # the local front's line per request, the handler's metrics
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        try:
            throughput["ours"] = load(f"http://127.0.0.1:{port}/predict", body, profile)
        finally:
            server.shutdown()
            thread.join()
    result["cold_start"] = cold
    result["throughput"] = throughput
    return result


def _ratio(value: float | None, reference: float | None) -> str:
    return f"{value / reference:.1f}x" if value and reference else "-"


def _figure(value: float | None, digits: int) -> str:
    return f"{value:.{digits}f}" if value is not None else "-"


COLUMNS = (("server", 24), ("1 row ms", 9), ("ratio", 7), ("p99 ms", 8), ("rounds", 15),
           ("100 rows ms", 12), ("ratio", 7), ("cold s", 7), ("ratio", 6), ("req/s", 7),
           ("ratio", 6))  # fmt: skip


def table_lines(result: dict[str, Any]) -> list[str]:
    """One model's table: a line per server, ours first; ratios against ours."""
    ours = result["latency"]["ours"]
    ours_cold = result["cold_start"]["ours"]["median_s"]
    ours_rate = result["throughput"]["ours"]["per_second"]
    lines = [_line([name for name, _ in COLUMNS])]
    for name in ("ours", *PEERS):
        one, hundred = result["latency"][name]["1"], result["latency"][name]["100"]
        cold = (result["cold_start"].get(name) or {}).get("median_s")
        rate = (result["throughput"].get(name) or {}).get("per_second")
        rounds = one["round_medians_ms"]
        cells = [
            "ours (realtime handler)" if name == "ours" else PEERS[name][1],
            _figure(one["median_ms"], 3),
            _ratio(one["median_ms"], ours["1"]["median_ms"]),
            _figure(one["p99_ms"], 3),
            f"{min(rounds):.3f}-{max(rounds):.3f}",
            _figure(hundred["median_ms"], 3),
            _ratio(hundred["median_ms"], ours["100"]["median_ms"]),
            _figure(cold, 2),
            _ratio(cold, ours_cold),
            _figure(rate, 0),
            _ratio(ours_rate, rate),
        ]
        lines.append(_line(cells))
    return lines


def _line(cells: list[str]) -> str:
    """Cells in the table's columns: the first left-aligned, the others right-aligned."""
    widths = [width for _, width in COLUMNS]
    first = f"{cells[0]:{widths[0]}}"
    return " ".join([first, *(f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=True))])


def print_table(results: list[dict[str, Any]], profile: Profile) -> None:
    print(
        f"Peers: {profile.rounds} interleaved rounds of {profile.calls_1} 1-row and "
        f"{profile.calls_100} 100-row calls (median of the rounds' medians, their range, "
        f"p99 of all calls); cold start median of {profile.cold_runs}; throughput "
        f"{profile.clients} clients x {profile.load_seconds:g} s on loopback. Ratios: "
        "theirs / ours (times slower; for throughput, ours / theirs)."
    )
    for r in results:
        print(
            f"\n{r['model']} (ONNX {r['onnx_bytes'] / 1024:,.0f} KiB; every peer's prediction "
            f"within {r['largest_difference_from_ours']:.2g} of ours)"
        )
        for line in table_lines(r):
            print("  " + line)
    print("\nCaveats: " + CAVEATS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", default="linear,random_forest,extra_trees,hist_gradient_boosting"
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds and runs (bench-quick)")
    args = parser.parse_args(argv)
    profile = Profile(args.quick)
    from infra.local_env import LocalAws, function_environment

    os.environ.update(ONE_THREAD)
    local = LocalAws().start()
    os.environ.update(function_environment(local.endpoint, "wine", POWERTOOLS_LOG_LEVEL="WARNING"))
    results = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            for kind in args.models.split(","):
                results.append(measure_model(kind, local, Path(folder), profile))
    finally:
        local.stop()
    print_table(results, profile)
    RESULTS.mkdir(exist_ok=True)
    name = "peers-quick.json" if args.quick else "peers.json"
    (RESULTS / name).write_text(json.dumps({"caveats": CAVEATS, "models": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
