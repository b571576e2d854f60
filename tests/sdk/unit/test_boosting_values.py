"""What the XGBoost and LightGBM callbacks record, from the structures those libraries hand
them (taken from real trainings)."""

from __future__ import annotations

from collections import OrderedDict, namedtuple

from cairn.lightgbm import evaluation_metrics
from cairn.xgboost import booster_params, metrics_at

EvalResult = namedtuple(
    "EvalResult", "dataset_name metric_name metric_value maximize metric_std_dev"
)


def test_xgboost_metrics_are_the_latest_value_per_eval_set_and_metric() -> None:
    evals_log = OrderedDict(
        train=OrderedDict(logloss=[0.6, 0.5], **{"error@0.7": [0.5, 0.25]}),
        validation=OrderedDict(logloss=[0.7, 0.65]),
    )
    assert metrics_at(evals_log) == {
        "train-logloss": 0.5,
        "train-error_0.7": 0.25,
        "validation-logloss": 0.65,
    }


def test_xgboost_cv_histories_record_mean_and_std() -> None:
    assert metrics_at({"test": {"rmse": [(0.5, 0.1), (0.4, 0.05)]}}) == {
        "test-rmse": 0.4,
        "test-rmse-std": 0.05,
    }


def test_xgboost_params_come_from_the_config_sections_under_their_own_names() -> None:
    config = {
        "learner": {
            "generic_param": {"nthread": "0", "seed": "0", "device": "cpu"},
            "gradient_booster": {
                "name": "gbtree",
                "tree_train_param": {"eta": "0.300000012", "max_depth": "2", "lambda": "1"},
                "updater": [{"hist_train_param": {"max_cached_hist_node": "18446744073709551615"}}],
            },
            "learner_train_param": {"objective": "binary:logistic", "booster": "gbtree"},
            "metrics": [{"name": "logloss"}, {"name": "error@0.7"}],
        },
        "version": [3, 2, 0],
    }
    assert booster_params(config) == {
        "nthread": 0,
        "seed": 0,
        "device": "cpu",
        "eta": 0.300000012,
        "max_depth": 2,
        "lambda": 1,
        "objective": "binary:logistic",
        "booster": "gbtree",
        "eval_metric": "logloss,error@0.7",
    }


def test_lightgbm_results_are_keyed_by_dataset_and_metric_with_cv_stdv() -> None:
    train = [
        EvalResult("validation", "binary_logloss", 0.41, False, None),
        EvalResult("validation", "auc", 0.99, True, None),
    ]
    assert evaluation_metrics(train) == {"validation-binary_logloss": 0.41, "validation-auc": 0.99}
    cv = [EvalResult("valid", "l2", 0.25, False, 0.01)]
    assert evaluation_metrics(cv) == {"valid-l2": 0.25, "valid-l2-stdv": 0.01}
    assert evaluation_metrics([("training", "ndcg@3", 0.5, True)]) == {"training-ndcg_3": 0.5}
