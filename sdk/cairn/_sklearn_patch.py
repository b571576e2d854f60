"""Wrapping and restoring scikit-learn's ``fit`` and ``score`` methods for ``cairn.sklearn``.

Only the class that *defines* a method is patched (found along each estimator's MRO), once, so a
subclass that inherits ``fit`` is covered without being wrapped twice, and user subclasses of
scikit-learn estimators are covered too. A method behind a descriptor (``available_if``, as on
Pipeline's ``score``) has the descriptor's function swapped, never the descriptor itself: replacing
it would make the method appear on estimators that do not offer it.

One fit at a time is *recorded*: while a recorded fit runs, every other patched call in the
process (a Pipeline's steps, the clones a search fits per fold, ``score`` inside the search, fits
on joblib's threads) runs unrecorded. This is a process-wide flag rather than a per-thread one
because scikit-learn itself fits clones on worker threads; the cost is that two user threads
fitting at the same moment record only the first.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterable
from typing import Any

# (original method, estimator, positional args, keyword args) -> the method's result
Hook = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]

FIT_METHODS = ("fit", "fit_transform", "fit_predict")
SCORE_METHODS = ("score",)

_lock = threading.Lock()
_recording = False
# (defining class, method name) -> (original function, the descriptor holding it or None)
_originals: dict[tuple[type, str], tuple[Callable[..., Any], Any]] = {}


def install(
    classes: Iterable[type], on_fit: Hook, on_score: Hook, *, with_score: bool = True
) -> int:
    """Wrap the fit methods (and ``score`` if ``with_score``) of ``classes``; returns how many
    methods were wrapped. Calling it again re-wraps with the new hooks."""
    uninstall()
    methods = [(name, on_fit) for name in FIT_METHODS]
    if with_score:
        methods += [(name, on_score) for name in SCORE_METHODS]
    for cls in classes:
        for name, hook in methods:
            owner = _defining_class(cls, name)
            if owner is None or (owner, name) in _originals:
                continue
            attribute = owner.__dict__[name]
            if inspect.isfunction(attribute):
                _originals[(owner, name)] = (attribute, None)
                setattr(owner, name, _wrap(attribute, hook))
            elif inspect.isfunction(getattr(attribute, "fn", None)):
                _originals[(owner, name)] = (attribute.fn, attribute)
                attribute.fn = _wrap(attribute.fn, hook)
    return len(_originals)


def uninstall() -> None:
    """Put every original method back."""
    for (owner, name), (original, descriptor) in _originals.items():
        if descriptor is None:
            setattr(owner, name, original)
        else:
            descriptor.fn = original
    _originals.clear()


def installed() -> bool:
    return bool(_originals)


def recording() -> bool:
    """True while a recorded fit runs (anywhere in the process)."""
    return _recording


def _defining_class(cls: type, name: str) -> type | None:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass
    return None


def _enter() -> bool:
    """Claim the recording flag; False if a recorded fit is already running."""
    global _recording
    with _lock:
        if _recording:
            return False
        _recording = True
        return True


def _leave() -> None:
    global _recording
    with _lock:
        _recording = False


def _wrap(original: Callable[..., Any], hook: Hook) -> Callable[..., Any]:
    @functools.wraps(original)
    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _enter():
            return original(self, *args, **kwargs)
        try:
            return hook(original, self, args, kwargs)
        finally:
            _leave()

    return patched


def call_arguments(
    original: Callable[..., Any], estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The call's arguments by parameter name (``X``, ``y``, ``sample_weight`` ...), with
    ``**fit_params`` merged in; empty when they do not bind (the method will raise anyway)."""
    try:
        bound = inspect.signature(original).bind(estimator, *args, **kwargs)
    except (TypeError, ValueError):
        return {}
    arguments: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        parameter = bound.signature.parameters[name]
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        elif parameter.kind is not inspect.Parameter.VAR_POSITIONAL:
            arguments[name] = value
    return arguments
