"""The realtime API's routes, each declared once: method, path, OpenAPI operation, protocol.

A route group is a powertools ``Router`` (:mod:`.api`, :mod:`.page`, :mod:`.mlflow`,
:mod:`.v2`); :func:`route` registers a handler with its router and in :data:`TABLE`, the
one list of routes. The routes that score rows are declared in :mod:`.scoring`, without
powertools, so that a cold start's first prediction is answered before powertools is
imported; each group registers its own. The OpenAPI document is built from the table
(:func:`realtime.openapi.document`), and the template's API routes are checked against it
(a test).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import Router

    from predictor.serving.pipeline import Codec


@dataclass(frozen=True, slots=True)
class Route:
    """One route: ``method`` and ``path`` (OpenAPI's form), its operation, its protocol."""

    method: str
    path: str
    operation: dict[str, Any]
    #: The protocol of a scoring route (its errors' shape, and the lean path's codec).
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


#: Every route of the realtime function, in the order they were registered.
TABLE: list[Route] = []


def register(router: Router, declared: Route, handler: Callable[..., Any]) -> None:
    """Register ``handler`` for ``declared`` with ``router``, and ``declared`` in :data:`TABLE`."""
    TABLE.append(declared)
    router.route(re.sub(r"\{(\w+)\}", r"<\1>", declared.path), declared.method)(handler)


def route(
    router: Router, method: str, path: str, operation: dict[str, Any]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated handler with ``router`` and in :data:`TABLE`."""

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        register(router, Route(method, path, operation), handler)
        return handler

    return decorate


def find_in(routes: Sequence[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The first of ``routes`` a request matches, and its path parameters; None for none."""
    for candidate in routes:
        if candidate.method == method and (found := candidate.pattern.match(path)):
            return candidate, found.groupdict()
    return None


def find(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The registered route of a request, and its path parameters; None for no route."""
    return find_in(TABLE, method, path)
