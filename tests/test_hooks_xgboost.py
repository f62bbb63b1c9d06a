"""The XGBoost hook with real XGBoost: in-process through a real spool, and end to end in MLflow.

Every expected metric value and round index comes from XGBoost itself (`evals_result`,
`XGBModel.evals_result()`, `Booster.best_iteration`), never from the hook.
"""

from __future__ import annotations

import json
import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

xgb = pytest.importorskip("xgboost")
from xgboost.callback import EarlyStopping, TrainingCallback  # noqa: E402

from tests import runs  # noqa: E402
from tests.test_capture import Run  # noqa: E402
from tracelet.automagic import AutomagicConfig  # noqa: E402
from tracelet.runtime.hooks import Hooks  # noqa: E402
from tracelet.runtime.hooks import xgboost as hook_module  # noqa: E402

ORIGINAL_TRAIN = xgb.training.train
PARAMS = {"objective": "binary:logistic", "eval_metric": ["logloss", "error"], "max_depth": 3}


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return Run(tmp_path)


@pytest.fixture
def hooks(run: Run) -> Iterator[Hooks]:
    installed = Hooks(run.capture, AutomagicConfig(frameworks=frozenset({"xgboost"}))).install()
    try:
        yield installed
    finally:
        installed.finish()
    assert xgb.train is xgb.sklearn.train is xgb.training.train is ORIGINAL_TRAIN


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    y = (x[:, 0] + rng.normal(scale=1.5, size=400) > 0).astype(int)  # noisy: stops early
    return {"x": x[:300], "y": y[:300], "x_valid": x[300:], "y_valid": y[300:]}


def dmatrices(data: dict[str, Any]) -> tuple[Any, Any]:
    return xgb.DMatrix(data["x"], data["y"]), xgb.DMatrix(data["x_valid"], data["y_valid"])


def series(run: Run) -> dict[str, list[tuple[int, float]]]:
    """Every metric the run recorded: name -> [(step, value)] in spool order."""
    found: dict[str, list[tuple[int, float]]] = {}
    for event in run.events():
        if event["e"] == "metric":
            found.setdefault(event["k"], []).append((event["s"], event["v"]))
    return found


def expected(evals_result: dict, prefix: str = "") -> dict[str, list[tuple[int, float]]]:
    return {
        f"{prefix}{data}/{metric}": list(enumerate(values))
        for data, metrics in evals_result.items()
        for metric, values in metrics.items()
    }


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# --- in-process ---------------------------------------------------------------------------


def test_train_records_booster_params_and_every_eval_metric_at_its_round(
    hooks: Hooks, run: Run, data: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    dtrain, dvalid = dmatrices(data)
    result: dict = {}
    xgb.train(
        {**PARAMS, "eta": 0.3}, dtrain, 7,
        evals=[(dtrain, "train"), (dvalid, "valid")], evals_result=result, verbose_eval=False,
    )  # fmt: skip
    assert run.params() == {
        "xgboost.objective": "binary:logistic",
        "xgboost.eval_metric": ["logloss", "error"],
        "xgboost.max_depth": 3,
        "xgboost.eta": 0.3,
        "xgboost.num_boost_round": 7,
    }
    assert series(run) == expected(result)
    assert set(series(run)) == {"train/logloss", "train/error", "valid/logloss", "valid/error"}
    kinds = [e["e"] for e in run.events()]
    assert kinds.index("train") < kinds.index("metric")  # training started before round 0
    assert warnings_of(caplog) == []


def test_params_given_as_pairs_keep_repeated_names(
    hooks: Hooks, run: Run, data: dict[str, Any]
) -> None:
    dtrain, _ = dmatrices(data)
    pairs = [("objective", "binary:logistic"), ("eval_metric", "auc"), ("eval_metric", "error")]
    result: dict = {}
    xgb.train(pairs, dtrain, 3, evals=[(dtrain, "train")], evals_result=result, verbose_eval=False)
    assert run.params()["xgboost.eval_metric"] == ["auc", "error"]
    assert series(run) == expected(result)
    assert set(result["train"]) == {"auc", "error"}


def test_the_sklearn_api_records_its_booster_and_each_eval_set(
    hooks: Hooks, run: Run, data: dict[str, Any]
) -> None:
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, learning_rate=0.5, eval_metric="logloss")
    eval_set = [(data["x"], data["y"]), (data["x_valid"], data["y_valid"])]
    model.fit(data["x"], data["y"], eval_set=eval_set, verbose=False)
    result = model.evals_result()
    assert set(result) == {"validation_0", "validation_1"}
    assert series(run) == expected(result)
    params = run.params()
    assert params["xgboost.max_depth"] == 2
    assert params["xgboost.learning_rate"] == 0.5
    assert params["xgboost.eval_metric"] == "logloss"
    assert params["xgboost.objective"] == "binary:logistic"
    assert params["xgboost.num_boost_round"] == 5
    assert None not in params.values()  # unset params (None) are XGBoost's defaults: skipped


@pytest.mark.parametrize("how", ["argument", "callback", "sklearn"])
def test_early_stopping_records_best_iteration_and_score(
    how: str, hooks: Hooks, run: Run, data: dict[str, Any]
) -> None:
    dtrain, dvalid = dmatrices(data)
    evals = [(dtrain, "train"), (dvalid, "valid")]
    result: dict = {}
    params = {**PARAMS, "eta": 1.0, "max_depth": 6}
    if how == "argument":
        booster = xgb.train(
            params, dtrain, 200, evals=evals, early_stopping_rounds=3, evals_result=result,
            verbose_eval=False,
        )  # fmt: skip
    elif how == "callback":
        stop = EarlyStopping(rounds=3, metric_name="logloss", save_best=True)
        booster = xgb.train(
            params, dtrain, 200, evals=evals, callbacks=[stop], evals_result=result,
            verbose_eval=False,
        )  # fmt: skip
    else:
        model = xgb.XGBClassifier(
            n_estimators=200, learning_rate=1.0, max_depth=6, early_stopping_rounds=3,
            eval_metric="logloss",
        )  # fmt: skip
        sets = [(data["x_valid"], data["y_valid"])]
        model.fit(data["x"], data["y"], eval_set=sets, verbose=False)
        booster, result = model.get_booster(), model.evals_result()
    recorded = series(run)
    rounds = len(next(iter(next(iter(result.values())).values())))
    assert rounds < 200  # it did stop early
    assert recorded.pop("best_iteration") == [(0, float(booster.best_iteration))]
    assert recorded.pop("best_score") == [(0, pytest.approx(booster.best_score))]
    assert recorded == expected(result)
    if how != "callback":
        assert run.params()["xgboost.early_stopping_rounds"] == 3


def test_without_early_stopping_no_best_is_recorded(
    hooks: Hooks, run: Run, data: dict[str, Any]
) -> None:
    dtrain, dvalid = dmatrices(data)
    xgb.train(PARAMS, dtrain, 4, evals=[(dvalid, "valid")], verbose_eval=False)
    assert set(series(run)) == {"valid/logloss", "valid/error"}


class Calls(TrainingCallback):
    """A user's callback: notes each call; stops training after round `stop_after`."""

    def __init__(self, name: str, log: list, stop_after: int | None = None) -> None:
        super().__init__()
        self.name, self.log, self.stop_after = name, log, stop_after

    def before_training(self, model: Any) -> Any:
        self.log.append((self.name, "before"))
        return model

    def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
        self.log.append((self.name, epoch))
        return epoch == self.stop_after

    def after_training(self, model: Any) -> Any:
        self.log.append((self.name, "after"))
        return model


def test_the_users_callbacks_run_in_their_order_and_can_stop_training(
    hooks: Hooks, run: Run, data: dict[str, Any]
) -> None:
    dtrain, dvalid = dmatrices(data)
    log: list = []
    callbacks = (Calls("a", log), Calls("b", log, stop_after=2))  # a tuple, as users may pass
    result: dict = {}
    booster = xgb.train(
        PARAMS, dtrain, 10, evals=[(dvalid, "valid")], callbacks=callbacks, evals_result=result,
        verbose_eval=False,
    )  # fmt: skip
    rounds = [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert log == [("a", "before"), ("b", "before"), *rounds, ("a", "after"), ("b", "after")]
    assert booster.num_boosted_rounds() == 3
    assert series(run) == expected(result)  # the round the user's callback stopped at too
    assert len(result["valid"]["logloss"]) == 3


class Peek(TrainingCallback):
    """A user's callback that reads the spool at round `at`, then maybe raises."""

    def __init__(self, run: Run, at: int, error: Exception | None = None) -> None:
        super().__init__()
        self.run, self.at, self.error, self.seen = run, at, error, {}

    def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
        if epoch == self.at:
            self.seen = series(self.run)
            if self.error is not None:
                raise self.error
        return False


def test_round_values_reach_the_spool_during_training_in_batches(
    hooks: Hooks, run: Run, data: dict[str, Any]
) -> None:
    dtrain, dvalid = dmatrices(data)
    every = hook_module.FLUSH_ROUNDS
    peek = Peek(run, at=every + 5)
    result: dict = {}
    xgb.train(
        {**PARAMS, "eta": 0.01}, dtrain, every + 10, evals=[(dvalid, "valid")], callbacks=[peek],
        evals_result=result, verbose_eval=False,
    )  # fmt: skip
    assert peek.seen == {name: points[:every] for name, points in expected(result).items()}
    assert series(run) == expected(result)


def test_an_interrupted_training_keeps_its_rounds_and_its_exception(
    hooks: Hooks, run: Run, data: dict[str, Any]
) -> None:
    dtrain, dvalid = dmatrices(data)
    reference: dict = {}
    ORIGINAL_TRAIN(
        PARAMS, dtrain, 4, evals=[(dvalid, "valid")], evals_result=reference, verbose_eval=False
    )
    error = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt) as raised:
        xgb.train(
            PARAMS, dtrain, 50, evals=[(dvalid, "valid")], verbose_eval=False,
            callbacks=[Peek(run, at=3, error=error)],
        )  # fmt: skip
    assert raised.value is error
    assert series(run) == {}  # still buffered: the run's end writes it
    hooks.finish()
    assert series(run) == expected(reference)  # rounds 0-3, the round it stopped at too


def test_later_calls_of_a_run_get_their_own_series(
    hooks: Hooks, run: Run, data: dict[str, Any]
) -> None:
    dtrain, dvalid = dmatrices(data)
    first: dict = {}
    second: dict = {}
    xgb.train(PARAMS, dtrain, 3, evals=[(dvalid, "valid")], evals_result=first, verbose_eval=False)
    xgb.train(
        {**PARAMS, "max_depth": 5}, dtrain, 4, evals=[(dvalid, "valid")], evals_result=second,
        verbose_eval=False,
    )  # fmt: skip
    assert series(run) == {
        **expected(first),
        **expected(second, prefix="xgboost.2/"),
        "param/xgboost.max_depth": [(0, 3.0), (1, 5.0)],  # Capture's rule for changed values
        "param/xgboost.num_boost_round": [(0, 3.0), (1, 4.0)],
    }


def test_train_raises_exactly_as_without_the_hook(hooks: Hooks, run: Run, data: dict) -> None:
    dtrain, _ = dmatrices(data)
    with pytest.raises(TypeError, match="Invalid type for the `evals`"):
        xgb.train(PARAMS, dtrain, 2, evals=[("not a DMatrix", "bad")])
    with pytest.raises(TypeError, match="TrainingCallback"):
        xgb.train(PARAMS, dtrain, 2, callbacks=[object()])
    with pytest.raises(TypeError):
        xgb.train(PARAMS)  # no dtrain: XGBoost's own TypeError, the hook stays out of it


@pytest.mark.parametrize("where", ["_record", "_booster_params"])
def test_a_hook_that_raises_turns_off_with_one_warning_and_training_goes_on(
    where: str,
    hooks: Hooks,
    run: Run,
    data: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dtrain, dvalid = dmatrices(data)
    params = {**PARAMS, "nthread": 1, "seed": 0}
    untracked: dict = {}
    reference = ORIGINAL_TRAIN(
        params, dtrain, 5, evals=[(dvalid, "valid")], evals_result=untracked, verbose_eval=False
    )

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug in the hook")

    if where == "_record":
        monkeypatch.setattr(hook_module._Recorder, "_record", broken)
    else:
        monkeypatch.setattr(hook_module, "_booster_params", broken)
    caplog.set_level(logging.WARNING, logger="tracelet")
    for _ in range(2):  # the second call finds the hook off
        result: dict = {}
        booster = xgb.train(
            params, dtrain, 5, evals=[(dvalid, "valid")], evals_result=result, verbose_eval=False
        )
        assert result == untracked
        assert booster.num_boosted_rounds() == 5
        assert np.array_equal(booster.predict(dvalid), reference.predict(dvalid))
    (warning,) = warnings_of(caplog)
    assert "xgboost hook is off" in warning and "a bug in the hook" in warning
    assert series(run) == {}


def test_a_train_bound_while_hooked_passes_through_once_the_run_is_over(
    run: Run, data: dict[str, Any]
) -> None:
    installed = Hooks(run.capture, AutomagicConfig(frameworks=frozenset({"xgboost"}))).install()
    from xgboost import train  # taken while the hook is in place

    installed.finish()
    assert xgb.train is ORIGINAL_TRAIN and train is not ORIGINAL_TRAIN
    dtrain, dvalid = dmatrices(data)
    train(PARAMS, dtrain, 2, evals=[(dvalid, "valid")], verbose_eval=False)
    assert series(run) == {}


# --- end to end: tracelet run and Experiment(automagic=True) --------------------------------

SCRIPT = """
import json, sys
import numpy as np
{before}
{import_xgboost}
{after}
rng = np.random.default_rng(0)
x = rng.normal(size=(400, 5))
y = (x[:, 0] + rng.normal(scale=1.5, size=400) > 0).astype(int)
dtrain = xgb.DMatrix(x[:300], y[:300])
dvalid = xgb.DMatrix(x[300:], y[300:])
result = {{}}
booster = xgb.train(
    {{"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 6, "eta": 1.0}},
    dtrain, 100, evals=[(dtrain, "train"), (dvalid, "valid")], early_stopping_rounds=3,
    evals_result=result, verbose_eval=False,
)
out = dict(result=result, best_iteration=booster.best_iteration, best_score=booster.best_score)
with open("result.json", "w") as f:
    json.dump(out, f)
{end}
"""

VARIANTS = {
    "tracelet run": dict(before="", import_xgboost="import xgboost as xgb", after="", end=""),
    "Experiment, xgboost imported first": dict(
        before="",
        import_xgboost="import xgboost as xgb",
        after="from tracelet import Experiment\nexp = Experiment('xgb', automagic=True).start()",
        end="exp.end()",
    ),
    "Experiment, xgboost imported after": dict(
        before="from tracelet import Experiment\nexp = Experiment('xgb', automagic=True).start()",
        import_xgboost="import xgboost as xgb",
        after="",
        end="exp.end()",
    ),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_end_to_end_params_and_metrics_land_in_mlflow(variant: str, tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    (tmp_path / "train.py").write_text(textwrap.dedent(SCRIPT.format(**VARIANTS[variant])))
    env = {**runs.store_env(tmp_path), "TRACELET_AUTOMAGIC_FRAMEWORKS": "xgboost"}
    if variant == "tracelet run":
        done = runs.tracelet_run(tmp_path, "--experiment", "xgb", "train.py", env=env)
    else:
        done = runs.python_run(tmp_path, "train.py", env=env)
    assert done.returncode == 0, done.stderr
    assert "hook is off" not in done.stderr
    uri = env["MLFLOW_TRACKING_URI"]
    found = runs.only_run(uri, "xgb")
    truth = json.loads((tmp_path / "result.json").read_text())
    params = found.data.params
    assert params["xgboost.max_depth"] == "6"
    assert params["xgboost.eta"] == "1.0"
    assert params["xgboost.objective"] == "binary:logistic"
    assert params["xgboost.num_boost_round"] == "100"
    assert params["xgboost.early_stopping_rounds"] == "3"
    for name, points in expected(truth["result"]).items():
        assert runs.metric_series(uri, found.info.run_id, name) == points, name
    assert len(truth["result"]["valid"]["logloss"]) < 100
    best = runs.metric_series(uri, found.info.run_id, "best_iteration")
    assert best == [(0, float(truth["best_iteration"]))]
    score = runs.metric_series(uri, found.info.run_id, "best_score")
    assert score == [(0, pytest.approx(truth["best_score"]))]
    assert found.info.status == "FINISHED"
