"""The realtime API's routes, each declared once: method, path, OpenAPI operation, protocol.

A route group is a powertools ``Router`` (:mod:`.api`, :mod:`.page`, :mod:`.mlflow`,
:mod:`.v2`); :func:`route` registers a handler with its router and in :data:`TABLE`, the
one list of routes. The OpenAPI document is built from the table
(:func:`realtime.openapi.document`), the template's API routes are checked against it (a
test), and the warm path finds its scoring routes in it (:func:`scoring_route_of`). A
scoring route's handler is generated: the pipeline (:func:`predictor.serving.pipeline.serve`)
with the route's codec.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from predictor.serving.pipeline import Codec, serve
from realtime.context import request_of, runtime, scored


@dataclass(frozen=True, slots=True)
class Route:
    """One route: ``method`` and ``path`` (OpenAPI's form), its operation, its protocol."""

    method: str
    path: str
    operation: dict[str, Any]
    #: The protocol of a scoring route (its errors' shape, and the warm path's codec).
    codec: Codec | None = None
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if set(self.operation) != {self.method.lower()}:
            raise ValueError(
                f"{self.method} {self.path}: its operation is for {set(self.operation)}"
            )
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))

    @property
    def key(self) -> str:
        """API Gateway's route key: ``POST /models/{name}/predict``."""
        return f"{self.method} {self.path}"


#: Every route of the realtime function, in the order they were declared.
TABLE: list[Route] = []


def route(
    router: Router, method: str, path: str, operation: dict[str, Any], codec: Codec | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated handler with ``router`` and in :data:`TABLE`."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        TABLE.append(Route(method, path, operation, codec))
        router.route(re.sub(r"\{(\w+)\}", r"<\1>", path), method)(handler)
        return handler

    return register


def scoring_route(
    router: Router, method: str, path: str, codec: Codec, operation: dict[str, Any]
) -> None:
    """A route that scores rows: the pipeline with ``codec``, the path's parameters passed."""

    def handle(**params: str) -> Any:
        return scored(serve(runtime(), codec, request_of(router), params))

    handle.__name__ = operation[method.lower()]["operationId"]
    route(router, method, path, operation, codec)(handle)


def find(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route of a request, and its path parameters; None for no route."""
    for candidate in TABLE:
        if candidate.method == method and (found := candidate.pattern.match(path)):
            return candidate, found.groupdict()
    return None


def scoring_route_of(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The scoring route of a request (the warm path's), or None."""
    found = find(method, path)
    return found if found is not None and found[0].codec is not None else None
