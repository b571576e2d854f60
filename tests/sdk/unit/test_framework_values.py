"""Framework names and values become valid Cairn keys and params instead of failing a training."""

from __future__ import annotations

import numpy as np
import pytest

from cairn._checks import check_key
from cairn._framework_values import MAX_REPR_CHARS, param_value, safe_key, safe_params


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("validation_0-logloss", "validation_0-logloss"),
        ("Loss/train", "Loss/train"),
        ("error@0.7", "error_0.7"),
        ("ndcg@5", "ndcg_5"),
        ("loss (val)", "loss__val_"),
        ("a..b", "a._.b"),
        (".hidden", "_.hidden"),
        ("", "_"),
        (3, "3"),
    ],
)
def test_safe_key_keeps_valid_characters_and_replaces_the_rest(name: object, key: str) -> None:
    assert safe_key(name) == key
    check_key(safe_key(name), "key")


def test_safe_key_is_cut_to_the_key_length_limit() -> None:
    key = safe_key("x" * 300)
    assert len(key) == 250
    check_key(key, "key")


def test_param_values_keep_scalar_types_and_record_objects_as_their_repr() -> None:
    assert param_value(3) == 3
    assert param_value(0.5) == 0.5
    assert param_value(True) is True
    assert param_value(None) is None
    assert param_value("adam") == "adam"
    assert param_value(np.float32(0.25)) == 0.25
    assert type(param_value(np.int64(4))) is int
    assert param_value([1, 2]) == "[1, 2]"
    assert param_value({"a": 1}) == "{'a': 1}"
    long = param_value("y" * 1000)
    assert isinstance(long, str)
    assert len(long) == MAX_REPR_CHARS
    assert long.endswith("\u2026")


def test_safe_params_prefixes_and_cleans_keys() -> None:
    assert safe_params({"C": 1.0, "kernel fn": len}, prefix="best_params.") == {
        "best_params.C": 1.0,
        "best_params.kernel_fn": "<built-in function len>",
    }
