"""A local Lambda Invoke endpoint: the state machine's tasks run the real handlers.

moto's Step Functions interpreter calls Lambda as a client would: ``Invoke`` over HTTP
on the moto server (``MOTO_PORT``). :class:`InvokeEndpoint` sits in front of moto's
application and answers the ``Invoke`` calls of the functions registered here by running
their handlers, as ``sam local start-lambda`` answers them with containers; every other
request goes to moto. A handler that raises answers as Lambda does: status 200,
``X-Amz-Function-Error: Unhandled`` and ``{"errorType", "errorMessage"}``, which the
interpreter turns into a task failure that Retry and Catch see.

A function runs in this process, one event at a time (a container's way), or, with
``processes``, in that many worker processes: separate "containers" that run events in
parallel on separate cores, each loading its model once.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any
from urllib.parse import unquote

from infra.lambda_context import LambdaContext

_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
_ARN_NAME = re.compile(r"^arn:[^:]+:lambda:[^:]+:[0-9]+:function:(?P<name>[^:]+)(?::.*)?$")


def _load(handler: str) -> Callable[[dict[str, Any], Any], Any]:
    module, _, attribute = handler.partition(":")
    return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]


def _run(handler: str, name: str, payload: bytes) -> tuple[bytes, bool]:
    """One invocation: the handler's JSON answer, or Lambda's error document."""
    try:
        event = json.loads(payload or b"{}")
        answer = _load(handler)(event, LambdaContext(name))
        return json.dumps(answer).encode(), False
    except Exception as exc:
        error = {
            "errorType": type(exc).__name__,
            "errorMessage": str(exc),
            "stackTrace": traceback.format_exception(exc)[-5:],
        }
        return json.dumps(error).encode(), True


#: A worker's standard output goes to this file when the variable names one (make run
#: keeps the functions' JSON logs off the terminal).
LOG_FILE_VARIABLE = "LOCAL_FUNCTION_LOG"


def _start_worker(paths: list[str], environment: dict[str, str]) -> None:
    sys.path[:0] = [p for p in paths if p not in sys.path]
    os.environ.update(environment)
    log_file = environment.get(LOG_FILE_VARIABLE)
    if log_file:
        sys.stdout = open(log_file, "a", encoding="utf-8", buffering=1)  # noqa: SIM115


class LocalFunction:
    """One function: its handler (``module:attribute``), in-process or in worker processes."""

    def __init__(
        self,
        name: str,
        handler: str,
        *,
        processes: int = 0,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.name, self.handler = name, handler
        self.invocations = 0
        self._lock = threading.Lock()
        self._processes = processes
        self._environment = environment or {}
        self._pool: ProcessPoolExecutor | None = None

    def _workers(self) -> ProcessPoolExecutor:
        """The worker processes, started on the first event with this process's
        environment as it is then (the functions' variables are set by then).
        """
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self._processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(list(sys.path), {**os.environ, **self._environment}),
                )
            return self._pool

    def invoke(self, payload: bytes) -> tuple[bytes, bool]:
        """The answer to one Invoke, and whether it is a function error."""
        with self._lock:
            self.invocations += 1
        if self._processes:
            return self._workers().submit(_run, self.handler, self.name, payload).result()
        with self._lock:  # one event at a time, as in one container
            return _run(self.handler, self.name, payload)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


class InvokeEndpoint:
    """WSGI middleware: Lambda ``Invoke`` of a registered function runs it; the rest is moto."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self.functions: dict[str, LocalFunction] = {}

    def register(self, function: LocalFunction) -> str:
        """Serve ``function``; returns its ARN."""
        self.functions[function.name] = function
        return LambdaContext(function.name).invoked_function_arn

    def close(self) -> None:
        for function in self.functions.values():
            function.close()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        found = _INVOKE.match(environ.get("PATH_INFO", ""))
        if found is None or environ.get("REQUEST_METHOD") != "POST":
            return self._app(environ, start_response)
        name = unquote(found.group("name"))
        arn = _ARN_NAME.match(name)
        name = arn.group("name") if arn else name.split(":")[0]
        function = self.functions.get(name)
        if function is None:
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = environ["wsgi.input"].read(length) if length else b""
        answer, failed = function.invoke(payload)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(answer))),
            ("X-Amz-Executed-Version", "$LATEST"),
        ]
        if failed:
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        start_response("200 OK", headers)
        return [answer]
