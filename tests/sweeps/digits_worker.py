"""A small real objective for sweep tests: a linear classifier on scikit-learn's digits, trained
epoch by epoch with ``partial_fit``, reporting the validation error after each epoch.

Run as a script it is one process of a shared sweep (the two-process kill test)::

    python -m tests.sweeps.digits_worker STORAGE_URL STUDY [PAUSE_S]

``PAUSE_S`` (default 0.03) is slept after each epoch: a longer one keeps this process inside a
trial most of the time, so a test can kill it there even on a busy machine.
"""

from __future__ import annotations

import sys
import time
from functools import cache
from typing import Any

import cairn
from cairn.sweeps import Trial

EPOCHS = 8
SPACE: dict[str, Any] = {
    "alpha": {"type": "float", "low": 1e-6, "high": 1e-1, "log": True},
    "eta0": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
    "loss": ["hinge", "log_loss", "modified_huber"],
}


@cache
def digits() -> tuple[Any, Any, Any, Any, Any]:
    import numpy as np
    from sklearn.datasets import load_digits

    features, labels = load_digits(return_X_y=True)
    features = features / 16.0
    return features[:1200], labels[:1200], features[1200:], labels[1200:], np.unique(labels)


def objective(trial: Trial, *, pause_s: float = 0.0) -> float:
    """Validation error after the last epoch; reports every epoch and stops when pruned."""
    from sklearn.linear_model import SGDClassifier

    train_x, train_y, valid_x, valid_y, classes = digits()
    model = SGDClassifier(
        loss=trial.params["loss"],
        alpha=trial.params["alpha"],
        learning_rate="constant",
        eta0=trial.params["eta0"],
        random_state=trial.number,
    )
    error = 1.0
    for epoch in range(EPOCHS):
        model.partial_fit(train_x, train_y, classes=classes)
        error = 1.0 - float(model.score(valid_x, valid_y))
        trial.report(error, step=epoch)
        if trial.should_prune():
            trial.prune()
        time.sleep(pause_s)  # a heavier model's epoch: keeps a trial long enough to kill inside
    return error


def main(storage: str, study: str, pause_s: float = 0.03) -> None:
    result = cairn.sweep(
        lambda trial: objective(trial, pause_s=pause_s),
        space=SPACE,
        n_trials=30,
        sampler="tpe",
        pruner={"name": "hyperband", "min_resource": 1, "max_resource": EPOCHS},
        objective_metric="val_error",
        study=study,
        storage=storage,
        heartbeat_interval=1,
        grace_period=3,
        name="digits",
    )
    print(f"{result.complete} complete, {result.pruned} pruned, {result.failed} failed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(float(a) for a in sys.argv[3:4]))
