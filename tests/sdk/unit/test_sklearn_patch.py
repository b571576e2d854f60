"""The patching under ``cairn.sklearn.autolog``: each defining class wrapped once, nested calls
unrecorded, descriptors kept, everything restored. Plain classes stand in for estimators."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import MethodType
from typing import Any

import pytest

from cairn import _sklearn_patch as patching


class Available:
    """A minimal ``available_if``: the method exists only where ``check`` says so."""

    def __init__(self, fn: Callable[..., Any], check: Callable[[Any], bool]) -> None:
        self.fn = fn
        self.check = check

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self.fn
        if not self.check(obj):
            raise AttributeError("not available")
        return MethodType(self.fn, obj)


class Base:
    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> Base:
        self.fitted_with = (X, y, fit_params)
        return self

    def score(self, X: Any, y: Any = None) -> float:
        return 1.0


class Child(Base):  # inherits fit and score
    pass


class Meta(Base):
    def __init__(self, inner: Base, offers_predict: bool = True) -> None:
        self.inner = inner
        self.offers_predict = offers_predict

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> Meta:
        self.inner.fit(X, y)  # nested: never recorded on its own
        return self

    def _fit_predict(self, X: Any, y: Any = None) -> list[int]:
        self.fit(X, y)
        return [0]

    fit_predict = Available(_fit_predict, lambda self: self.offers_predict)


@pytest.fixture
def calls() -> Iterator[list[tuple[str, str]]]:
    recorded: list[tuple[str, str]] = []

    def on_fit(original: Any, estimator: Any, args: Any, kwargs: Any) -> Any:
        recorded.append(("fit", type(estimator).__name__))
        return original(estimator, *args, **kwargs)

    def on_score(original: Any, estimator: Any, args: Any, kwargs: Any) -> Any:
        recorded.append(("score", type(estimator).__name__))
        return original(estimator, *args, **kwargs)

    patching.install([Base, Child, Meta], on_fit, on_score)
    try:
        yield recorded
    finally:
        patching.uninstall()


def test_each_defining_class_is_wrapped_once_and_subclasses_are_covered(
    calls: list[tuple[str, str]],
) -> None:
    Child().fit([1], [0])
    Base().score([1], [0])
    assert calls == [("fit", "Child"), ("score", "Base")]
    assert Child.__dict__.get("fit") is None  # patched where defined, not per subclass


def test_a_fit_inside_a_recorded_fit_is_not_recorded(calls: list[tuple[str, str]]) -> None:
    meta = Meta(Child()).fit([1], [0])
    assert calls == [("fit", "Meta")]
    assert meta.inner.fitted_with == ([1], [0], {})
    assert not patching.recording()


def test_a_descriptor_method_is_wrapped_and_stays_conditional(
    calls: list[tuple[str, str]],
) -> None:
    assert Meta(Child()).fit_predict([1]) == [0]
    assert calls == [("fit", "Meta")]  # fit_predict recorded; its inner fit nested
    assert not hasattr(Meta(Child(), offers_predict=False), "fit_predict")


def test_uninstall_restores_every_original() -> None:
    originals = (Base.__dict__["fit"], Base.__dict__["score"], Meta.__dict__["fit"])
    descriptor_fn = Meta.__dict__["fit_predict"].fn
    patching.install([Child, Meta], lambda *a: None, lambda *a: None)
    assert patching.installed()
    assert Base.__dict__["fit"] is not originals[0]
    patching.uninstall()
    assert (Base.__dict__["fit"], Base.__dict__["score"], Meta.__dict__["fit"]) == originals
    assert Meta.__dict__["fit_predict"].fn is descriptor_fn
    assert not patching.installed()


def test_without_score_only_fit_methods_are_wrapped() -> None:
    original_score = Base.__dict__["score"]
    patching.install([Base], lambda *a: None, lambda *a: None, with_score=False)
    try:
        assert Base.__dict__["score"] is original_score
        assert Base.__dict__["fit"] is not None
        assert Base.__dict__["fit"].__wrapped__ is not None
    finally:
        patching.uninstall()


def test_call_arguments_names_positional_keyword_and_fit_params() -> None:
    estimator = Base()
    fit = Base.fit
    arguments = patching.call_arguments(fit, estimator, ([1],), {"y": [0], "sample_weight": [2]})
    assert arguments == {"self": estimator, "X": [1], "y": [0], "sample_weight": [2]}
    assert patching.call_arguments(fit, estimator, (), {"nonsense": 1}) == {}
