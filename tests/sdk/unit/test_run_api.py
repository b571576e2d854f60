"""The Run API as a user calls it, offline (no server): what each call records, in what order, and
the exact error each misuse raises at the call site, before anything reaches the spool."""

from __future__ import annotations

import logging
import math
import time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cairn
from cairn.config import Mode
from cairn.errors import (
    AlreadyExistsError,
    ConfigError,
    FailedPreconditionError,
    NotFoundError,
    ValidationError,
)
from cairn.run import Run
from cairn.v1 import runs_pb2
from tests.sdk.helpers import offline_settings, payloads, points, spooled_events


@pytest.fixture
def run(tmp_path: Path) -> Any:
    with cairn.init(name="baseline", settings=offline_settings(tmp_path)) as started:
        yield started


def events_of(run: Run) -> list[Any]:
    assert run.flush(10)
    assert run.spool_dir is not None
    return spooled_events(run.spool_dir)


def test_an_offline_run_records_every_call_in_order(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    run = cairn.init(
        name="baseline",
        config={"lr": 3e-4, "model": {"layers": 4}},
        tags={"team": "risk"},
        settings=offline_settings(tmp_path),
    )
    for step in range(100):
        run.log({"loss": 1.0 / (step + 1), "acc": step / 100}, step=step)
    run.log_params({"batch_size": 64})
    run.set_tags({"stage": "tuning"})
    run.use_dataset(data, name="train")
    run.log_artifact(model, kind="model")
    run.comment("Switched to cosine schedule after the plateau at step 3k")
    directory = run.spool_dir
    run.finish()
    assert directory is not None
    events = spooled_events(directory)

    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds == [
        "run_created",
        "params_set",
        "tags_set",
        "metrics",
        "params_set",
        "tags_set",
        "dataset_recorded",
        "lineage_edge_recorded",
        "artifact_logged",
        "lineage_edge_recorded",
        "comment_added",
        "run_status_changed",
    ]
    assert [e.envelope.sequence for e in events] == list(range(1, len(events) + 1))
    assert {(e.envelope.team, e.envelope.project, e.envelope.aggregate_id) for e in events} == {
        ("vision", "churn", run.id)
    }
    assert events[0].run_created.name == "baseline"
    config = {p.key: p.value for p in events[1].params_set.params}
    assert config["lr"].double_value == 3e-4
    assert config["model.layers"].int_value == 4
    assert points(events) == {
        "loss": [(s, 1.0 / (s + 1)) for s in range(100)],
        "acc": [(s, s / 100) for s in range(100)],
    }
    assert events[-1].run_status_changed.status == runs_pb2.RUN_STATUS_FINISHED
    assert run.status == "finished"


def test_steps_count_on_from_the_last_step_logged(run: Run) -> None:
    run.log({"a": 1.0})
    run.log({"a": 2.0})
    run.log({"a": 3.0}, step=10)
    run.log({"a": 4.0})
    assert points(events_of(run))["a"] == [(0, 1.0), (1, 2.0), (10, 3.0), (11, 4.0)]


def test_numbers_of_every_kind_are_accepted_and_nested_keys_dotted(run: Run) -> None:
    run.log(
        {
            "f32": np.float32(0.5),
            "i64": np.int64(7),
            "zero_d": np.array(2.5),
            "dec": Decimal("1.25"),
            "frac": Fraction(1, 4),
            "flag": True,
            "nan": math.nan,
            "train": {"loss": 0.25, "deep": {"x": 1}},
        },
        step=np.int64(3),
    )
    found = {k: v[0] for k, v in points(events_of(run)).items()}
    assert math.isnan(found.pop("nan")[1])
    assert found == {
        "f32": (3, 0.5),
        "i64": (3, 7.0),
        "zero_d": (3, 2.5),
        "dec": (3, 1.25),
        "frac": (3, 0.25),
        "flag": (3, 1.0),
        "train.loss": (3, 0.25),
        "train.deep.x": (3, 1.0),
    }


MISUSE = [
    ({"loss": "0.5"}, None, "data['loss']: must be a number, got str '0.5' (rule numeric_value)"),
    (
        {"loss": None},
        None,
        "data['loss']: must be a number, got NoneType None (rule numeric_value)",
    ),
    ({"loss": [1, 2]}, None, "data['loss']: must be a number, got list (rule numeric_value)"),
    (
        {"x" * 251: 1.0},
        None,
        f"data['{'x' * 251}']: 251 characters, at most 250 allowed (rule max_length)",
    ),
    (
        {"bad key!": 1.0},
        None,
        "data['bad key!']: 'bad key!' is not valid: use dot-separated segments of letters, digits and _ - / : (rule key_format)",
    ),
    ({1: 1.0}, None, "data[1]: metric names must be strings, got int (rule type)"),
    ({"loss": 1.0}, -1, "step: step must be >= 0, got -1 (rule non_negative_step)"),
    ({"loss": 1.0}, 1.5, "step: must be an integer, got float (rule type)"),
    ({"loss": 1.0}, True, "step: must be an integer, got bool (rule type)"),
    (
        [("loss", 1.0)],
        None,
        "data: must be a mapping of metric names to numbers, got list (rule type)",
    ),
]


@pytest.mark.parametrize(("data", "step", "message"), MISUSE)
def test_misuse_of_log_raises_a_clear_error_and_records_nothing(
    run: Run, data: Any, step: Any, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        run.log(data, step=step)
    assert str(caught.value) == message
    assert caught.value.code.value == "invalid_argument"
    assert points(events_of(run)) == {}


def test_a_multi_element_array_is_not_a_metric(run: Run) -> None:
    with pytest.raises(
        ValidationError, match=r"data\['w'\]: must be a single number, got ndarray of shape \(3,\)"
    ):
        run.log({"w": np.ones(3)})


def test_calls_after_finish_raise_failed_precondition(tmp_path: Path) -> None:
    run = cairn.init(settings=offline_settings(tmp_path))
    run.finish()
    with pytest.raises(FailedPreconditionError) as caught:
        run.log({"loss": 1.0})
    assert str(caught.value) == (
        f"run {run.id} is finished: log after finish() is not recorded "
        "(start a new run, or resume this one with cairn.init(resume=...))"
    )
    for call in (
        lambda: run.log_params({"a": 1}),
        lambda: run.set_tags({"a": "b"}),
        lambda: run.comment("x"),
    ):
        with pytest.raises(FailedPreconditionError):
            call()
    run.finish()  # a second finish does nothing


def test_params_keep_their_types_and_misuse_is_named(run: Run) -> None:
    run.log_params(
        {
            "opt": {"name": "adam", "betas": [0.9, 0.999]},
            "n": None,
            "big": 2**70,
            "path": Path("/d"),
        }
    )
    params = {p.key: p.value for p in payloads(events_of(run), "params_set")[0].params}
    assert params["opt.name"].string_value == "adam"
    assert params["opt.betas.1"].double_value == 0.999
    assert params["n"].WhichOneof("kind") == "null_value"
    assert params["big"].string_value == str(2**70)
    assert params["path"].string_value == "/d"
    with pytest.raises(
        ValidationError,
        match=r"^params.p: 6001 characters, at most 6000 allowed \(rule max_length\)$",
    ):
        run.log_params({"p": "x" * 6001})
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(11):
        node = node.setdefault("d", {})
    with pytest.raises(ValidationError, match=r"rule max_config_depth"):
        run.log_params(deep)


def test_tags_are_text_and_misuse_is_named(run: Run) -> None:
    run.set_tags({"stage": "tuning", "epochs": 3, "final": True})
    tags = {t.key: t.value for t in payloads(events_of(run), "tags_set")[0].tags}
    assert tags == {"stage": "tuning", "epochs": "3", "final": "true"}
    with pytest.raises(
        ValidationError,
        match=r"^tags\['x'\]: tag values are text, numbers or booleans, got list \(rule type\)$",
    ):
        run.set_tags({"x": [1]})
    with pytest.raises(ValidationError, match=r"no_control_characters"):
        run.set_tags({"x": "a\x1bb"})


def test_init_checks_its_arguments_before_creating_anything(tmp_path: Path) -> None:
    settings = offline_settings(tmp_path)
    with pytest.raises(ValidationError, match=r"^project: 'Churn!' is not valid: use lowercase"):
        cairn.init(settings=offline_settings(tmp_path, project="Churn!"))
    with pytest.raises(ConfigError, match=r"^no team: pass cairn.init\(team=...\)"):
        cairn.init(settings=offline_settings(tmp_path, team=""))
    with pytest.raises(ValidationError, match=r"^config: must be a mapping"):
        cairn.init(config=[1, 2], settings=settings)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^no ingest address"):
        cairn.init(settings=offline_settings(tmp_path, mode=Mode.ONLINE))
    with pytest.raises(ConfigError, match=r"^pass either settings= or individual settings"):
        cairn.init(project="churn", settings=settings)
    assert not (tmp_path / "cairn").exists()


def test_disabled_mode_checks_calls_but_records_nothing(tmp_path: Path) -> None:
    with cairn.init(settings=offline_settings(tmp_path, mode=Mode.DISABLED)) as run:
        run.log({"loss": 1.0})
        with pytest.raises(ValidationError):
            run.log({"loss": "x"})
        assert run.flush(1)
        assert run.spool_dir is None
    assert not (tmp_path / "cairn").exists()


def test_a_resumed_run_continues_above_every_earlier_sequence_and_step(tmp_path: Path) -> None:
    first = cairn.init(settings=offline_settings(tmp_path))
    for step in range(5):
        first.log({"loss": 1.0}, step=step)
    first.finish()
    assert first.spool_dir is not None
    earlier = spooled_events(first.spool_dir)

    second = cairn.init(resume=first.id, settings=offline_settings(tmp_path))
    second.log({"loss": 0.5})
    second.finish()
    events = spooled_events(first.spool_dir)
    resumed = events[len(earlier) :]
    assert resumed[0].WhichOneof("payload") == "run_resumed"
    assert resumed[0].envelope.sequence > earlier[-1].envelope.sequence
    assert resumed[0].envelope.sequence >= (time.time_ns() // 1_000_000 - 60_000) << 16
    sequences = [e.envelope.sequence for e in events]
    assert sequences == sorted(set(sequences))
    assert points(resumed)["loss"] == [(5, 0.5)]


def test_a_run_id_in_use_needs_resume(tmp_path: Path) -> None:
    first = cairn.init(run_id="exp-1", settings=offline_settings(tmp_path))
    with pytest.raises(AlreadyExistsError, match=r"^run_id: run exp-1 was already started on this"):
        cairn.init(run_id="exp-1", settings=offline_settings(tmp_path))
    first.finish()
    assert first.spool_dir is not None
    for path in first.spool_dir.iterdir():  # as if delivered: only the resume state is left
        path.unlink()
    first.spool_dir.rmdir()
    with pytest.raises(
        AlreadyExistsError, match=r"pass resume= to continue it \(rule run_exists\)$"
    ):
        cairn.init(run_id="exp-1", settings=offline_settings(tmp_path))
    cairn.init(resume="exp-1", settings=offline_settings(tmp_path)).finish()


def test_nested_runs_name_their_parent(tmp_path: Path) -> None:
    with cairn.init(settings=offline_settings(tmp_path)) as parent:
        with cairn.init(parent=parent, settings=offline_settings(tmp_path)) as child:
            assert cairn.current_run() is child
            events = events_of(child)
        assert cairn.current_run() is parent
    assert events[0].run_created.parent_run_id == parent.id
    assert cairn.current_run() is None


@pytest.mark.parametrize(
    ("error", "status", "exit_code", "reason"),
    [
        (ValueError("diverged"), runs_pb2.RUN_STATUS_FAILED, 1, "ValueError: diverged"),
        (KeyboardInterrupt(), runs_pb2.RUN_STATUS_KILLED, 130, "KeyboardInterrupt"),
        (SystemExit(3), runs_pb2.RUN_STATUS_FAILED, 3, "SystemExit(3)"),
    ],
)
def test_an_exception_in_the_with_block_ends_the_run_with_its_traceback(
    tmp_path: Path, error: BaseException, status: int, exit_code: int, reason: str
) -> None:
    def train() -> None:
        raise error

    with pytest.raises(type(error)), cairn.init(settings=offline_settings(tmp_path)) as run:
        train()
    assert run.spool_dir is not None
    change = payloads(spooled_events(run.spool_dir), "run_status_changed")[0]
    assert (change.status, change.exit_code, change.reason) == (status, exit_code, reason)
    if not isinstance(error, SystemExit):
        assert "in train" in change.traceback
        assert "raise error" in change.traceback


def test_log_series_records_arrays_and_checks_them(run: Run) -> None:
    run.log_series("lr", np.arange(4), np.linspace(0.0, 1.0, 4))
    run.log_series("warmup", [0, 1], [0.1, 0.2], timestamps_ns=[1_800_000_000_000_000_000] * 2)
    found = points(events_of(run))
    assert found["lr"] == [(0, 0.0), (1, 1 / 3), (2, 2 / 3), (3, 1.0)]
    with pytest.raises(
        ValidationError, match=r"^values: has 1 items but steps has 2 \(rule equal_lengths\)$"
    ):
        run.log_series("x", [0, 1], [1.0])
    with pytest.raises(ValidationError, match=r"^steps\[1\]: step must be >= 0, got -1"):
        run.log_series("x", [0, -1], [1.0, 2.0])
    with pytest.raises(ValidationError, match=r"^timestamps_ns\[0\]: must be int nanoseconds"):
        run.log_series("x", [0], [1.0], timestamps_ns=[1_700_000_000])


def test_comments_and_their_anchors(run: Run) -> None:
    comment_id = run.comment("Plateau **here**", metric="loss", steps=(3000, 3200))
    comment = payloads(events_of(run), "comment_added")[0]
    assert comment.comment_id == comment_id
    assert comment.body_markdown == "Plateau **here**"
    assert (comment.anchor.metric_key, comment.anchor.step_min, comment.anchor.step_max) == (
        "loss",
        3000,
        3200,
    )
    with pytest.raises(ValidationError, match=r"^body: must not be empty \(rule required\)$"):
        run.comment("  ")
    with pytest.raises(ValidationError, match=r"rule step_range"):
        run.comment("x", metric="loss", steps=(5, 1))


def test_artifact_and_dataset_misuse(run: Run, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"does not exist \(rule exists\)$"):
        run.log_artifact(tmp_path / "missing.pt")
    (tmp_path / "m.pt").write_bytes(b"x")
    with pytest.raises(ValidationError, match=r"^kind: 'weights' is not one of model, checkpoint"):
        run.log_artifact(tmp_path / "m.pt", kind="weights")
    with pytest.raises(NotFoundError):
        run.use_dataset(tmp_path / "missing.csv")


def test_a_full_spool_drops_metric_points_but_keeps_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = offline_settings(tmp_path, spool_max_bytes=64 * 1024)
    with caplog.at_level(logging.WARNING, logger="cairn"), cairn.init(settings=settings) as run:
        for step in range(20_000):
            run.log({"loss": 1.0, "acc": 0.5}, step=step)
            if step % 2000 == 0:
                run.flush(10)
        run.set_tags({"after": "full"})
        events = events_of(run)
    logged = sum(len(v) for v in points(events).values())
    assert 0 < logged < 40_000
    assert payloads(events, "tags_set")[0].tags[0].key == "after"
    assert "is full" in caplog.text
    assert "metric points dropped so far" in caplog.text


def test_the_run_url_points_at_the_portal(tmp_path: Path) -> None:
    with cairn.init(
        settings=offline_settings(tmp_path, portal_url="http://127.0.0.1:8501/")
    ) as run:
        assert run.url == f"http://127.0.0.1:8501/run?id={run.id}"
    with cairn.init(settings=offline_settings(tmp_path)) as run:
        assert run.url is None


def test_a_nested_run_inherits_its_parents_project_and_a_resumed_run_its_own(
    tmp_path: Path,
) -> None:
    where: dict[str, Any] = {"mode": "offline", "dir": tmp_path / "cairn", "capture": False}
    with (
        cairn.init(project="fraud", team="vision", **where) as parent,
        cairn.init(parent=parent, **where) as child,
    ):
        assert (child.project, child.team) == ("fraud", "vision")
    resumed = cairn.init(resume=child.id, team="vision", **where)
    assert resumed.project == "fraud"
    resumed.finish()
    assert resumed.spool_dir is not None
    assert {e.envelope.project for e in spooled_events(resumed.spool_dir)} == {"fraud"}
