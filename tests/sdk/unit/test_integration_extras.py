"""Without its framework installed, an integration says which extra to install."""

from __future__ import annotations

import importlib
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "framework", "extra"),
    [
        ("cairn.sklearn", "sklearn", "sklearn"),
        ("cairn.xgboost", "xgboost", "xgboost"),
        ("cairn.lightgbm", "lightgbm", "lightgbm"),
        ("cairn.tensorboard", "tensorboard", "tensorboard"),
    ],
)
def test_a_missing_framework_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, module: str, framework: str, extra: str
) -> None:
    for name in [m for m in sys.modules if m == framework or m.startswith(f"{framework}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, framework, None)  # `import <framework>` now fails
    monkeypatch.delitem(sys.modules, module, raising=False)

    with pytest.raises(ImportError, match=rf"pip install 'cairn-sdk\[{extra}\]'"):
        importlib.import_module(module)
