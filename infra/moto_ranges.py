"""Ranged GETs that read only their range from moto, as S3 does.

moto answers ``GET`` with a ``Range`` header by reading the whole object and slicing
it: each 64 KiB window the planner reads of a 2 GB file, and each range a worker reads,
costs a 2 GB copy (1.6 s here). A run in byte ranges makes many ranged GETs of one large
object, so locally moto's copies, not the design, would dominate its time. This patch
(applied by :class:`infra.local_env.LocalAws`) hands moto's range handling a view of the
object that reads only the bytes asked for; whatever it does not slice is read whole,
as before. Headers, versions and conditions stay moto's.
"""

from __future__ import annotations

import threading
from typing import Any

_ranged = threading.local()
_applied = False


class _RangeView:
    """The bytes of one moto key, read on slicing (under the key's lock)."""

    def __init__(self, key: Any) -> None:
        self._key = key

    def __len__(self) -> int:
        return int(self._key.size)

    def __getitem__(self, part: slice) -> bytes:
        start, stop, _ = part.indices(len(self))
        with self._key.lock:
            self._key._value_buffer.seek(start)
            return bytes(self._key._value_buffer.read(max(0, stop - start)))

    def whole(self) -> bytes:
        return self[:]


def apply() -> None:
    """Patch moto's S3 responses (once per process)."""
    global _applied
    if _applied:
        return
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    value = FakeKey.value
    get_object = S3Response.get_object
    handle_range = S3Response._handle_range_header

    def lazy_value(self: Any) -> Any:
        return _RangeView(self) if getattr(_ranged, "on", False) else value.fget(self)

    def ranged_get_object(self: Any) -> Any:
        _ranged.on = bool(self.headers.get("range"))
        try:
            return get_object(self)
        finally:
            _ranged.on = False

    def range_then_bytes(self: Any, request: Any, headers: Any, content: Any) -> Any:
        status, headers, content = handle_range(self, request, headers, content)
        return status, headers, content.whole() if isinstance(content, _RangeView) else content

    FakeKey.value = property(lazy_value, value.fset)  # type: ignore[method-assign,assignment]
    S3Response.get_object = ranged_get_object  # type: ignore[method-assign]
    S3Response._handle_range_header = range_then_bytes  # type: ignore[method-assign]
    _applied = True
