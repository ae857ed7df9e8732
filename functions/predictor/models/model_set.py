"""Many models per function: which names may be served, and which are loaded now.

A function serves its default model (``MODEL_NAME``) and, when ``SERVED_MODELS`` says
so, any other registry model whose name matches one of its patterns (``*`` for all).
Each model is served through the function's alias, or at a pinned registry version
(the Open Inference Protocol's version paths); each (name, version) pair has its own
:class:`~predictor.models.cache.ModelCache`, so an alias moves and reloads per model as
it always has, and a pinned version is looked for as often as an alias (a deleted one
stops being served).

Loaded models are kept in least-recently-used order while the sum of their ONNX graphs
stays within a byte budget. Neither the model just used nor the default model is ever
evicted, so a single model larger than the budget still serves, and the function's own
model (the one its snapshot holds) stays loaded. A name outside the patterns is refused
before anything reaches S3. The set is shared by the threads of a local server, so it
takes a lock for its bookkeeping, never while a model loads: a slow load of one model
does not hold up requests to the others.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from predictor.errors import ModelNotFoundError, UnknownModelError
from predictor.models.cache import ModelCache
from predictor.models.registry import LoadedModel, RegistryReader, check_name
from predictor.values import shortened

logger = logging.getLogger(__name__)

#: At most this many (name, version) entries are kept, loaded or not: a stream of
#: requests for names the registry does not hold remembers each failure for a while
#: without growing the set for ever.
MAX_ENTRIES = 256

Key = tuple[str, str | None]  # (model name, pinned version or None for the alias)


@dataclass(frozen=True, slots=True)
class ServableModel:
    """One model a function can serve, for ``GET /models``."""

    name: str
    alias: str
    default: bool
    loaded_version: str | None

    def to_dict(self) -> dict[str, object]:
        """The JSON form listed by ``GET /models``."""
        return {
            "name": self.name,
            "alias": self.alias,
            "default": self.default,
            "loaded_version": self.loaded_version,
        }


@dataclass(frozen=True, slots=True)
class ModelListing:
    """``GET /models``: the models served now, and the allowed ones that cannot be, why."""

    models: list[ServableModel]
    not_served: list[dict[str, str]]

    def to_dict(self) -> dict[str, object]:
        """The JSON form of ``GET /models``."""
        return {"models": [m.to_dict() for m in self.models], "not_served": self.not_served}


class ModelSet:
    """The models one function serves: allowlist, per-model caches, LRU by bytes."""

    def __init__(
        self,
        reader: RegistryReader,
        default_name: str,
        alias: str,
        patterns: tuple[str, ...] = (),
        budget_bytes: int = 256 * 1024 * 1024,
        recheck_seconds: float = 60.0,
        inference_threads: int = 1,
        clock: Callable[[], float] = time.monotonic,
        *,
        with_baselines: bool = True,
    ) -> None:
        self.default_name = default_name
        self.alias = alias
        self._reader = reader
        self._patterns = tuple(dict.fromkeys((default_name, *patterns)))
        self._budget = budget_bytes
        self._recheck_seconds = recheck_seconds
        self._threads = inference_threads
        self._with_baselines = with_baselines
        self.clock = clock
        self._caches: OrderedDict[Key, ModelCache] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def reader(self) -> RegistryReader:
        """The registry the models are read from (their other artifacts: the report)."""
        return self._reader

    # ----- the allowlist -------------------------------------------------------------
    def allows(self, name: str) -> bool:
        """Whether ``name`` is a valid registry name that one of the patterns matches."""
        try:
            check_name(name)
        except ValueError:
            return False
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self._patterns)

    @property
    def only_listed_names(self) -> bool:
        """True when every pattern is a plain name (the set is known without S3)."""
        return not any(any(c in p for c in "*?[") for p in self._patterns)

    def servable(self) -> ModelListing:
        """What ``GET /models`` lists: the allowed names (those in the registry, for
        patterns) whose alias is set, and the others with the reason they cannot be served.
        """
        names = (
            list(self._patterns)
            if self.only_listed_names
            else [n for n in self._reader.model_names() if self.allows(n)]
        )
        if self.default_name not in names:
            names.insert(0, self.default_name)
        served: list[ServableModel] = []
        not_served: list[dict[str, str]] = []
        for name in sorted(names, key=lambda n: (n != self.default_name, n)):
            if self._reader.alias(name, self.alias) is None:
                not_served.append(
                    {"name": name, "reason": f"no version holds the alias {self.alias!r}"}
                )
                continue
            loaded = self._loaded_version(name)
            served.append(ServableModel(name, self.alias, name == self.default_name, loaded))
        return ModelListing(served, not_served)

    def _loaded_version(self, name: str) -> str | None:
        cache = self._caches.get((name, None))
        model = cache.current if cache is not None else None
        return model.version if model is not None else None

    # ----- serving -------------------------------------------------------------------
    def get(self, name: str | None = None, version: str | None = None) -> LoadedModel:
        """The model to serve for ``name`` (the default when None), at ``version`` or the alias.

        Raises :class:`UnknownModelError` for a name outside the allowlist (without any
        S3 call) and for a model or version the registry does not hold; other failures
        (S3 unreachable, a corrupt artifact) propagate as they are.
        """
        if name is None and version is None:
            # The warm path of the function's own model: never evicted, so neither its place
            # in the order nor the budget needs the lock.
            default = self._caches.get((self.default_name, None))
            return (default or self._cache((self.default_name, None))).get()
        name = self.default_name if name is None else name
        if not self.allows(name):
            raise UnknownModelError(f"model {_repr(name)} is not served by this function")
        if version is not None:
            try:
                check_name(version, "version")
            except ValueError as exc:
                raise UnknownModelError(f"model {name!r} has no version {_repr(version)}") from exc
        key: Key = (name, version)
        cache = self._cache(key)
        before = cache.current
        try:
            model = cache.get()
        except ModelNotFoundError as exc:
            self._evict(keep=key)  # names that fail count as entries
            raise UnknownModelError(str(exc)) from exc
        if model is not before:  # a load (or a swap) changed the bytes held
            self._evict(keep=key)
        return model

    @property
    def current(self) -> LoadedModel | None:
        """The default model as loaded now, without loading it or checking its alias."""
        cache = self._caches.get((self.default_name, None))
        return cache.current if cache is not None else None

    def recheck_now(self) -> None:
        """Make every model look at its alias again on its next request."""
        with self._lock:
            caches = list(self._caches.values())
        for cache in caches:
            cache.recheck_now()

    def adopt(self, other: ModelSet) -> None:
        """Serve the models ``other`` has loaded (a restored snapshot's), re-checking aliases."""
        for key, cache in other.loaded_items():
            self._cache(key).adopt(cache.current)

    def loaded_items(self) -> list[tuple[Key, ModelCache]]:
        """The (key, cache) pairs holding a loaded model, least recently used first."""
        with self._lock:
            return [(k, c) for k, c in self._caches.items() if c.current is not None]

    @property
    def loaded_bytes(self) -> int:
        """The budget in use: the summed ONNX sizes of the loaded models."""
        return sum(cache.current.size_bytes for _, cache in self.loaded_items() if cache.current)

    def _cache(self, key: Key) -> ModelCache:
        with self._lock:
            cache = self._caches.get(key)
            if cache is None:
                cache = self._caches[key] = self._new_cache(key)
            self._caches.move_to_end(key)
            return cache

    def _new_cache(self, key: Key) -> ModelCache:
        name, version = key
        load = self._reader.load_onnx
        threads, with_baseline = self._threads, self._with_baselines
        if version is None:
            alias = self.alias

            def resolve() -> str:
                return self._reader.resolve(name, alias)
        else:
            pinned = version

            def resolve() -> str:
                # A version never changes, but it may be deleted: stop serving it then.
                if not self._reader.has_version(name, pinned):
                    raise ModelNotFoundError(f"model {name!r} has no version {pinned!r}")
                return pinned

        return ModelCache(
            resolve=resolve,
            load=lambda v: load(name, v, inference_threads=threads, with_baseline=with_baseline),
            recheck_seconds=self._recheck_seconds,
            clock=lambda: self.clock(),  # the set's clock, even when a test moves it later
            forget_when_gone=version is not None,
        )

    def _evict(self, keep: Key) -> None:
        """Drop least recently used entries until the loaded bytes fit the budget."""
        with self._lock:
            total = sum(c.current.size_bytes for c in self._caches.values() if c.current)
            for key in list(self._caches):
                over_bytes = total > self._budget
                if not over_bytes and len(self._caches) <= MAX_ENTRIES:
                    break
                if key == keep or (key[0] == self.default_name and key[1] is None):
                    continue  # the model in use, and the default model, stay
                if len(self._caches) <= MAX_ENTRIES and self._caches[key].current is None:
                    continue  # holds no bytes (a remembered failure): only the count evicts it
                dropped = self._caches.pop(key)
                if dropped.current is not None:
                    total -= dropped.current.size_bytes
                    logger.info(
                        "evicted %s %s from the model cache (%d bytes loaded)",
                        key[0],
                        dropped.current.version,
                        total,
                    )


def _repr(text: str) -> str:
    return repr(shortened(text, 60))
