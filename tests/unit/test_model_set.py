"""The model set: allowlist, per-model caches, least-recently-used eviction by bytes."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from predictor.errors import ModelNotFoundError, UnknownModelError
from predictor.models.model_set import MAX_ENTRIES, ModelSet
from predictor.models.registry import LoadedModel


class FakeReader:
    """A registry of models of given ONNX sizes; counts every call that would reach S3."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = sizes
        self.versions = {"v0", "v1"}
        self.calls: list[tuple[str, ...]] = []
        self.lock = threading.Lock()

    def resolve(self, name: str, alias: str) -> str:
        with self.lock:
            self.calls.append(("resolve", name))
        if name not in self.sizes:
            raise ModelNotFoundError(f"model {name!r} has no alias {alias!r}")
        return "v1"

    def alias(self, name: str, alias: str) -> dict[str, str] | None:
        with self.lock:
            self.calls.append(("alias", name))
        return {"version": "v1"} if name in self.sizes else None

    def has_version(self, name: str, version: str) -> bool:
        with self.lock:
            self.calls.append(("head", name, version))
        return name in self.sizes and version in self.versions

    def load_onnx(
        self, name: str, version: str, inference_threads: int = 1, *, with_baseline: bool = True
    ) -> LoadedModel:
        with self.lock:
            self.calls.append(("load", name, version))
        if version not in self.versions:
            raise ModelNotFoundError(f"model {name!r} has no version {version!r}")
        manifest = {
            "name": name,
            "version": version,
            "artifacts": {"model.onnx": {"size": self.sizes[name]}},
        }
        return LoadedModel(manifest=manifest, predictor=Any)  # type: ignore[arg-type]

    def model_names(self) -> list[str]:
        with self.lock:
            self.calls.append(("list",))
        return sorted(self.sizes)


def model_set(sizes: dict[str, int], patterns: tuple[str, ...], budget: int) -> ModelSet:
    return ModelSet(FakeReader(sizes), "main", "production", patterns, budget)  # type: ignore[arg-type]


def reader_of(models: ModelSet) -> FakeReader:
    return models._reader  # type: ignore[return-value]


def test_the_default_alone_unless_patterns_say_more() -> None:
    models = model_set({"main": 10, "other": 10}, (), 100)
    assert models.get().name == "main"
    with pytest.raises(UnknownModelError, match="not served"):
        models.get("other")
    assert [m.name for m in models.servable().models] == ["main"]


@pytest.mark.parametrize("name", ["other", "../main", "main/x", "", "a" * 101, "region-", "*"])
def test_names_outside_the_allowlist_never_reach_the_registry(name: str) -> None:
    models = model_set({"main": 1, "region-eu": 1, "other": 1}, ("region-?*",), 100)
    with pytest.raises(UnknownModelError):
        models.get(name)
    assert reader_of(models).calls == []


def test_least_recently_used_models_leave_first_within_the_byte_budget() -> None:
    models = model_set({"main": 40, "a": 30, "b": 30, "c": 30}, ("*",), 100)
    for name in ("main", "a", "b"):
        models.get(name)
    assert models.loaded_bytes == 100
    models.get("a")  # a is now more recent than b
    models.get("c")  # 130 > 100: b, the least recently used, leaves
    loaded = {key[0] for key, _ in models.loaded_items()}
    assert loaded == {"main", "a", "c"}
    assert models.loaded_bytes == 100
    loads = [c for c in reader_of(models).calls if c[0] == "load"]
    models.get("b")  # loaded again, and a (now least recent, main excepted) leaves
    assert len([c for c in reader_of(models).calls if c[0] == "load"]) == len(loads) + 1
    assert {key[0] for key, _ in models.loaded_items()} == {"main", "c", "b"}


def test_a_model_larger_than_the_budget_still_serves_and_the_default_stays() -> None:
    models = model_set({"main": 10, "huge": 500}, ("*",), 100)
    models.get("main")
    assert models.get("huge").name == "huge"
    assert {key[0] for key, _ in models.loaded_items()} == {"main", "huge"}
    models.get("main")
    models.get("huge")
    assert models.current is not None
    assert models.current.name == "main"


def test_versions_are_cached_apart_from_the_alias_and_a_deleted_one_stops_serving() -> None:
    models = model_set({"main": 1}, (), 100)
    now = [0.0]
    models.clock = lambda: now[0]
    assert models.get("main", "v0").version == "v0"
    assert models.get("main").version == "v1"
    with pytest.raises(UnknownModelError, match="no version"):
        models.get("main", "v9")
    with pytest.raises(UnknownModelError):
        models.get("main", "../v1")
    calls = list(reader_of(models).calls)
    models.get("main", "v0")
    assert reader_of(models).calls == calls  # within the re-check interval: no S3 call
    # Given v0 deleted from the registry, once the interval has passed
    reader_of(models).versions.discard("v0")
    now[0] += 61
    # Then the pinned version is looked for (one HEAD, no load) and no longer served
    with pytest.raises(UnknownModelError, match="no version 'v0'"):
        models.get("main", "v0")
    assert reader_of(models).calls[len(calls) :] == [("head", "main", "v0")]
    assert models.get("main").version == "v1"


def test_missing_models_are_remembered_and_the_set_stays_bounded() -> None:
    models = model_set({"main": 1}, ("*",), 100)
    for i in range(MAX_ENTRIES + 50):
        with pytest.raises(UnknownModelError):
            models.get(f"ghost-{i}")
    assert len(models._caches) <= MAX_ENTRIES
    before = len(reader_of(models).calls)
    with pytest.raises(UnknownModelError):
        models.get(f"ghost-{MAX_ENTRIES + 49}")  # remembered: no second look yet
    assert len(reader_of(models).calls) == before


def test_servable_lists_the_registry_for_patterns_and_names_for_lists() -> None:
    models = model_set({"main": 1, "region-eu": 1, "region-us": 1, "other": 1}, ("region-*",), 100)
    models.get("region-us")
    listing = models.servable()
    listed = [(m.name, m.default, m.loaded_version) for m in listing.models]
    assert listed == [("main", True, None), ("region-eu", False, None), ("region-us", False, "v1")]
    assert listing.not_served == []
    plain = model_set({"main": 1}, ("a", "b"), 100)
    listing = plain.servable()
    # a and b hold no alias: listed apart, with the reason, never offered to be chosen
    assert [m.name for m in listing.models] == ["main"]
    assert listing.not_served == [
        {"name": "a", "reason": "no version holds the alias 'production'"},
        {"name": "b", "reason": "no version holds the alias 'production'"},
    ]
    assert {c[0] for c in reader_of(plain).calls} == {"alias"}  # no listing of the registry


def test_many_threads_share_one_load_per_model() -> None:
    models = model_set({"main": 10, "a": 10, "b": 10}, ("*",), 15)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for _ in range(200):
                assert models.get(name).name == name
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("main", "a", "b") * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert models.loaded_bytes <= 10 + 10  # the default, and at most the last one used


def test_remembered_failures_keep_their_place_while_models_are_over_budget() -> None:
    models = model_set({"main": 500, "a": 10}, ("*",), 100)
    models.get("main")  # the default alone is over the budget
    for _ in range(3):
        for ghost in ("x", "y"):
            with pytest.raises(UnknownModelError):
                models.get(ghost)
    looks = [c for c in reader_of(models).calls if c == ("resolve", "x")]
    assert len(looks) == 1  # remembered, not evicted for bytes it does not hold


def test_a_remembered_failure_does_not_grow_its_traceback() -> None:
    import traceback

    models = model_set({"main": 1}, ("*",), 100)
    sizes = []
    for _ in range(50):
        try:
            models.get("ghost")
        except UnknownModelError as exc:
            sizes.append(len("".join(traceback.format_exception(exc))))
    assert max(sizes) < 2 * min(sizes)


@pytest.mark.parametrize("name", ["main\n", "main\r", " main"])
def test_names_with_line_breaks_or_spaces_are_not_names(name: str) -> None:
    models = model_set({"main": 1}, ("*",), 100)
    with pytest.raises(UnknownModelError):
        models.get(name)
    assert reader_of(models).calls == []
