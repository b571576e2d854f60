"""Imported TensorBoard runs get ids fixed by what was written, so importing twice is harmless."""

from __future__ import annotations

import re

from cairn.tensorboard import TensorBoardRun, run_id_for

UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
FILE = "events.out.tfevents.1795726891.vm.2748.0"


def run(
    path: str = "run_a", event_file: str = FILE, first: float = 1795726891.25
) -> TensorBoardRun:
    return TensorBoardRun(path, event_file, first)


def test_the_id_is_a_uuid7_whose_time_is_the_first_event() -> None:
    run_id = run_id_for(run())
    assert UUID7.fullmatch(run_id)
    assert int(run_id.replace("-", "")[:12], 16) == 1795726891250


def test_the_same_run_always_gets_the_same_id_and_other_runs_other_ids() -> None:
    assert run_id_for(run()) == run_id_for(run())
    assert run_id_for(run(path="run_b")) != run_id_for(run())
    assert run_id_for(run(event_file=FILE[:-1] + "1")) != run_id_for(run())


def test_merging_an_hparams_directory_takes_its_params_and_series() -> None:
    main = run()
    main.scalars = {"loss": {0: (1.0, 0.5), 1: (2.0, 0.25)}}
    hparams = run(path="run_a/1795726891.1")
    hparams.hparams = {"lr": 0.01}
    hparams.scalars = {"hparam/accuracy": {0: (3.0, 0.9)}}
    main.merge(hparams)
    assert main.hparams == {"lr": 0.01}
    assert main.points == 3
    assert main.scalars["hparam/accuracy"] == {0: (3.0, 0.9)}


def test_only_a_directory_with_hparams_and_single_values_counts_as_add_hparams_output() -> None:
    from cairn.tensorboard import _written_by_add_hparams

    written = run(path="run_a/1795726891.1")
    written.hparams = {"lr": 0.01}
    written.scalars = {"hparam/accuracy": {0: (3.0, 0.9)}}
    assert _written_by_add_hparams(written)
    own_run = run(path="run_a/fold-1")
    own_run.hparams = {"lr": 0.01}
    own_run.scalars = {"loss": {0: (1.0, 0.5), 1: (2.0, 0.25)}}
    assert not _written_by_add_hparams(own_run)
    assert not _written_by_add_hparams(run())
