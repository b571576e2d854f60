"""What the framework integrations (Lightning, Keras, Transformers, PyTorch) share.

Frameworks hand over names and values Cairn's rules do not promise to accept: metric names with
spaces or brackets, logs mixing numbers and strings, configs holding objects, lists thousands
long. Training must never fail because of how a framework named something, so everything here
*repairs* instead of raising: invalid key characters become ``_``, non-numbers are dropped from
metrics, odd values become their text. Nothing here imports a framework.
"""

from __future__ import annotations

import logging
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn import _checks as checks
from cairn._flatten import Scalar, scalar
from cairn._framework_values import safe_key
from cairn.errors import ValidationError

if TYPE_CHECKING:
    from cairn.run import Run

log = logging.getLogger("cairn")

_MAX_LIST_ITEMS = 64  # longer lists are recorded as one text value, not as 64+ parameters
# ``hub_token``, ``api_key``, ``db_password``; not ``pad_token_id`` or ``max_new_tokens``.
_SECRET_NAME = re.compile(
    r"secret|password|passwd|credential|(^|_)(token|api_key|apikey|access_key)$", re.I
)


def missing(what: str, extra: str, error: ImportError) -> ImportError:
    """The error an integration raises when its framework is not installed."""
    message = f"{what} cannot be imported ({error}): pip install 'cairn-sdk[{extra}]'"
    return ImportError(message, name=error.name)


key = safe_key  # one key repair for every integration (see cairn._framework_values)


def is_secret(name: str) -> bool:
    """Whether a parameter name looks like a credential (``hub_token``, ``api_key`` ...)."""
    return _SECRET_NAME.search(name) is not None


def metrics(logs: Mapping[Any, Any], prefix: str = "") -> dict[str, float]:
    """The numeric entries of a framework's log dict, as metrics named ``prefix + key``; text,
    None, and arrays of more than one element are dropped. NaN and ±inf are kept."""
    found: dict[str, float] = {}
    for name, value in logs.items():
        if isinstance(value, Mapping):
            found.update(metrics(value, f"{prefix}{name}."))
            continue
        if isinstance(value, str | bytes) or value is None:
            continue
        try:
            number = checks.to_metric_value(value, "value")
        except ValidationError:
            continue
        found[key(f"{prefix}{name}")] = number
    return found


def params(config: Mapping[Any, Any], prefix: str = "") -> dict[str, Scalar]:
    """A framework's configuration as flat parameters ``prefix + dotted.key``.

    Nested mappings and short lists become dotted keys as in ``cairn.init(config=...)``; lists of
    more than 64 items, anything nested deeper than the config limit and every non-scalar value
    become text; long text is cut. Names that look like credentials are left out.
    """
    flat: dict[str, Scalar] = {}

    def visit(value: object, name: str, depth: int) -> None:
        if isinstance(value, Mapping) and depth < checks.MAX_CONFIG_DEPTH - 1:
            if not value and name:
                flat[name] = "{}"
            for k, v in value.items():
                if not is_secret(str(k)):
                    visit(v, f"{name}.{key(k)}" if name else key(k), depth + 1)
            return
        if (
            isinstance(value, Sequence)
            and not isinstance(value, str | bytes | bytearray)
            and len(value) <= _MAX_LIST_ITEMS
            and depth < checks.MAX_CONFIG_DEPTH - 1
        ):
            if not value and name:
                flat[name] = "[]"
            for index, v in enumerate(value):
                visit(v, f"{name}.{index}" if name else str(index), depth + 1)
            return
        plain = scalar(value)  # a number, or the text of anything else (long lists included)
        if isinstance(plain, str):
            plain = checks.clean_text(plain, checks.MAX_PARAM_VALUE_CHARS)
        flat[name[: checks.MAX_KEY_CHARS].rstrip(".") or "_"] = plain

    visit(config, key(prefix.rstrip(".")) if prefix else "", 0)
    if len(flat) > checks.MAX_ITEMS_PER_LIST:
        log.warning(
            "cairn: %d parameters, only the first %d are recorded",
            len(flat),
            checks.MAX_ITEMS_PER_LIST,
        )
        flat = dict(list(flat.items())[: checks.MAX_ITEMS_PER_LIST])
    return flat


def log_text(run: Run, text: str, name: str, kind: str = "other") -> None:
    """Record ``text`` as a file artifact called ``name``."""
    with tempfile.TemporaryDirectory(prefix="cairn-") as directory:
        path = Path(directory) / name
        path.write_text(text, encoding="utf-8")
        run.log_artifact(path, name=name, kind=kind)


class RunSlot:
    """The run an integration records into, decided on first use.

    A run passed in is used as it is. Without one, and without arguments for ``cairn.init``, the
    active run (``cairn.current_run()``) is used, so a callback inside ``with cairn.init(...)``
    or a sweep trial records into that run. Otherwise the integration starts its own run with
    ``cairn.init(**init_args)``. Only a run it started is ended by it; if that run is needed again
    after it ended (Lightning's ``trainer.test`` after ``trainer.fit``, a second ``model.fit``), it
    is resumed, so one integration object records one run.
    """

    def __init__(self, run: Run | None, init_args: Mapping[str, Any]) -> None:
        self._run = run
        self._init_args = {name: value for name, value in init_args.items() if value is not None}
        self.owned = False

    @property
    def started(self) -> bool:
        return self._run is not None

    def peek(self) -> Run | None:
        """The run decided so far, as it is (ended or not); None before first use."""
        return self._run

    def get(self, default_name: str | None = None) -> Run:
        """The run; ``default_name`` names a run started here when no ``name`` was given."""
        import cairn

        run = self._run
        if run is None:
            active = cairn.current_run() if not self._init_args else None
            if active is not None:
                run = active
            else:
                arguments = dict(self._init_args)
                if default_name and "name" not in arguments:
                    arguments["name"] = default_name
                run = cairn.init(**arguments)
                self.owned = True
            self._run = run
        elif self.owned and run.status != "running":
            run = self._run = cairn.init(resume=run.id, settings=run.settings)
        return run

    def finish(self) -> None:
        """Finish the run if this slot started it."""
        if self.owned and self._run is not None:
            self._run.finish()

    def fail(self) -> None:
        """End the run this slot started as failed, with the exception being handled, if any."""
        if not self.owned or self._run is None:
            return
        error = sys.exc_info()[1]
        if error is None:
            self._run.finish("failed")
        else:
            self._run.fail_with(error, killed=isinstance(error, KeyboardInterrupt))
