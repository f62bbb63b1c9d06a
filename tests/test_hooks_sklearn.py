"""scikit-learn hooks: real estimators, the exact events they spool, and runs in real MLflow.

In-process tests install the hooks over a real spool and read back what they wrote;
end-to-end tests run a script under `tracelet run` and under plain python with
`Experiment(automagic=True)`, in both import orders, and read the MLflow store.
"""

from __future__ import annotations

import inspect
import json
import logging
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sklearn")

import numpy as np
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tests.runs import metric_series, only_run, python_run, store_env, tracelet_run
from tracelet.automagic import AutomagicConfig
from tracelet.runtime.capture import Capture
from tracelet.runtime.hooks import Hooks
from tracelet.runtime.hooks import sklearn as sklearn_hook
from tracelet.runtime.spool import SpoolReader, SpoolWriter

X, y = make_classification(
    n_samples=90, n_features=5, n_informative=3, n_redundant=0, n_classes=3, random_state=0
)
TRACKED = ("fit", "fit_transform", "fit_predict", "predict", "predict_proba", "score")


class Shrunk(LogisticRegression):
    """A user subclass defined before the hooks are installed; its fit calls super().fit."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Shrunk:
        return super().fit(X, y, sample_weight=sample_weight)


class Recorded:
    """Hooks installed over a real spool, and what they spooled."""

    def __init__(self, root: Path, **config: Any) -> None:
        self.writer = SpoolWriter.create(root, experiment="test")
        self.capture = Capture(self.writer)
        settings = AutomagicConfig(frameworks=frozenset({"sklearn"}), **config)
        self.hooks = Hooks(self.capture, settings).install()
        self.reader = SpoolReader(self.writer.run_dir)

    def finish(self) -> None:
        self.hooks.finish()

    def events(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != "t"} for e in self.reader.events()]

    def params(self) -> dict[str, Any]:
        return {e["k"]: e["v"] for e in self.events() if e["e"] == "param"}

    def metrics(self) -> dict[tuple[str, int], float]:
        """(name, step) -> value; fails on two values at one point."""
        points = [((e["k"], e["s"]), e["v"]) for e in self.events() if e["e"] == "metric"]
        found = dict(points)
        assert len(found) == len(points), points
        return found


@pytest.fixture
def recorded(tmp_path: Path) -> Recorded:
    run = Recorded(tmp_path)
    yield run
    run.finish()


def expected_params(prefix: str, estimator: Any) -> dict[str, Any]:
    """What sklearn itself says the params are, under `prefix` (scalar params only)."""
    return {f"{prefix}.{k}": v for k, v in estimator.get_params().items()}


# --- one fit ------------------------------------------------------------------------------


def test_an_outermost_fit_records_params_data_shape_and_duration(recorded: Recorded) -> None:
    model = LogisticRegression(C=0.5, max_iter=300)
    assert model.fit(X, y) is model
    recorded.finish()
    events = recorded.events()
    assert events[0] == {"e": "train"}  # training starts at the first fit, before its params
    assert recorded.params() == expected_params("LogisticRegression", model)
    metrics = recorded.metrics()
    assert set(metrics) == {
        ("LogisticRegression/fit_seconds", 0),
        ("LogisticRegression/n_samples", 0),
        ("LogisticRegression/n_features", 0),
        ("LogisticRegression/n_classes", 0),
    }
    assert metrics["LogisticRegression/n_samples", 0] == len(X)
    assert metrics["LogisticRegression/n_features", 0] == X.shape[1]
    assert metrics["LogisticRegression/n_classes", 0] == len(set(y))
    assert 0 < metrics["LogisticRegression/fit_seconds", 0] < 30


def test_dataset_info_can_be_switched_off(tmp_path: Path) -> None:
    run = Recorded(tmp_path, track_dataset_info=False)
    try:
        LogisticRegression().fit(X, y)
    finally:
        run.finish()
    assert set(run.metrics()) == {("LogisticRegression/fit_seconds", 0)}


# --- composites ---------------------------------------------------------------------------


def test_a_pipeline_in_a_grid_search_is_one_capture_with_readable_nested_names(
    recorded: Recorded,
) -> None:
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=200))])
    search = GridSearchCV(pipe, {"clf__C": [0.1, 1.0]}, cv=3)
    assert search.fit(X, y) is search
    score = search.score(X, y)
    search.predict(X)
    search.predict(X[:5])
    search.predict_proba(X)
    recorded.finish()

    params = recorded.params()
    deep = {"GridSearchCV." + k.replace("__", ".") for k in search.get_params(deep=True)}
    assert set(params) == deep | {"GridSearchCV.best_params.clf.C"}  # no inner fit captured
    assert params["GridSearchCV.estimator"] == "Pipeline"
    assert params["GridSearchCV.estimator.steps"] == [
        ["scale", "StandardScaler"],
        ["clf", "LogisticRegression"],
    ]
    assert params["GridSearchCV.estimator.clf"] == "LogisticRegression"
    assert params["GridSearchCV.estimator.clf.max_iter"] == 200
    assert params["GridSearchCV.estimator.scale.with_mean"] is True
    assert params["GridSearchCV.cv"] == 3
    assert params["GridSearchCV.best_params.clf.C"] == search.best_params_["clf__C"]

    metrics = recorded.metrics()
    assert set(metrics) == {
        (f"GridSearchCV/{name}", 0)
        for name in (
            "fit_seconds", "n_samples", "n_features", "n_classes", "best_score", "score",
            "predict_calls", "predict_latency_seconds", "predict_proba_calls",
            "predict_proba_latency_seconds",
        )
    }  # fmt: skip
    assert metrics["GridSearchCV/best_score", 0] == pytest.approx(search.best_score_)
    assert metrics["GridSearchCV/score", 0] == pytest.approx(score)
    assert metrics["GridSearchCV/predict_calls", 0] == 2  # score()'s own predict not counted
    assert metrics["GridSearchCV/predict_proba_calls", 0] == 1
    assert metrics["GridSearchCV/predict_latency_seconds", 0] > 0


def test_estimators_of_one_class_get_distinct_names_and_clones_share_one(
    recorded: Recorded,
) -> None:
    first = LogisticRegression(C=1.0).fit(X, y)  # step 0
    LogisticRegression(C=0.1).fit(X, y)  # step 1: another estimator, other params
    first.fit(X, y)  # step 2: the same estimator again
    scores = cross_val_score(LogisticRegression(C=0.1), X, y, cv=3)  # steps 3-5: clones
    first.set_params(C=2.0).fit(X, y)  # step 6: the same estimator, a param changed
    recorded.finish()

    metrics = recorded.metrics()

    def steps(name: str) -> list[int]:
        return sorted(step for metric, step in metrics if metric == name)

    assert steps("LogisticRegression/fit_seconds") == [0, 2, 6]
    assert steps("LogisticRegression_2/fit_seconds") == [1, 3, 4, 5]
    cv_scores = [metrics["LogisticRegression_2/score", step] for step in (3, 4, 5)]
    assert cv_scores == pytest.approx(list(scores))
    params = recorded.params()
    assert params["LogisticRegression.C"] == 1.0
    assert params["LogisticRegression_2.C"] == 0.1
    assert not any(key.startswith("LogisticRegression_3") for key in params)
    # a changed param follows the capture's change policy: a series of the values
    assert metrics["param/LogisticRegression.C", 0] == 1.0
    assert metrics["param/LogisticRegression.C", 1] == 2.0


# --- user classes -------------------------------------------------------------------------


def test_user_subclasses_defined_before_and_after_install_are_captured_once(
    recorded: Recorded,
) -> None:
    class Majority(ClassifierMixin, BaseEstimator):
        """A user estimator defined while the hooks are installed."""

        def __init__(self, strategy: str = "most_frequent") -> None:
            self.strategy = strategy

        def fit(self, X: Any, y: Any) -> Majority:
            self.classes_, counts = np.unique(y, return_counts=True)
            self.n_features_in_ = np.asarray(X).shape[1]
            self.majority_ = self.classes_[np.argmax(counts)]
            return self

        def predict(self, X: Any) -> np.ndarray:
            return np.full(len(X), self.majority_)

    shrunk = Shrunk(C=0.3)
    assert shrunk.fit(X, y) is shrunk  # Shrunk.fit -> LogisticRegression.fit: one capture
    majority = Majority().fit(X, y)
    for _ in range(3):
        majority.predict(X)
    accuracy = majority.score(X, y)  # ClassifierMixin.score
    recorded.finish()

    assert Majority.fit.__name__ == "fit" and Majority.fit.__doc__ is None
    assert list(inspect.signature(Majority.fit).parameters) == ["self", "X", "y"]
    assert accuracy == np.mean(y == majority.majority_)
    assert recorded.params() == {
        **expected_params("Shrunk", shrunk),
        "Majority.strategy": "most_frequent",
    }
    metrics = recorded.metrics()
    assert set(metrics) == {
        *((f"Shrunk/{n}", 0) for n in ("fit_seconds", "n_samples", "n_features", "n_classes")),
        *((f"Majority/{n}", 1) for n in ("fit_seconds", "n_samples", "n_features", "n_classes")),
        ("Majority/score", 1),
        ("Majority/predict_calls", 1),
        ("Majority/predict_latency_seconds", 1),
    }
    assert metrics["Majority/score", 1] == accuracy
    assert metrics["Majority/predict_calls", 1] == 3


def test_a_user_estimator_still_pickles_by_value_for_joblib_workers(recorded: Recorded) -> None:
    cloudpickle = pytest.importorskip("cloudpickle")

    class Constant(ClassifierMixin, BaseEstimator):
        """Like a class of a `__main__` script: cloudpickle copies it, methods included."""

        def fit(self, X: Any, y: Any) -> Constant:
            self.classes_ = np.unique(y)
            return self

        def predict(self, X: Any) -> np.ndarray:
            return np.full(len(X), self.classes_[0])

    copy = cloudpickle.loads(cloudpickle.dumps(Constant))  # what loky sends its workers
    model = copy().fit(X, y)
    assert model.predict(X[:4]).tolist() == [y.min()] * 4
    recorded.finish()
    assert [m for m, _ in recorded.metrics() if m.endswith("/fit_seconds")] == [
        "Constant/fit_seconds"
    ]


# --- sklearn's own machinery --------------------------------------------------------------


def _tracked(classes: list[type]) -> dict[tuple[type, str], Any]:
    """The tracked methods each class defines itself (functions, or available_if's `fn`)."""
    found = {}
    for cls in classes:
        for name in TRACKED:
            value = cls.__dict__.get(name)
            if value is not None:
                found[cls, name] = getattr(value, "fn", value)
    return found


def test_wrapping_keeps_names_signatures_and_uninstall_restores_everything(
    tmp_path: Path,
) -> None:
    classes = [LogisticRegression, RandomForestClassifier, Pipeline, GridSearchCV, StandardScaler]
    classes += [ClassifierMixin, TransformerMixin, Shrunk]
    before = _tracked(classes)
    assert (Pipeline, "predict_proba") in before and (ClassifierMixin, "score") in before
    init_subclass = BaseEstimator.__dict__.get("__init_subclass__")
    run = Recorded(tmp_path)
    try:
        during = _tracked(classes)
        assert BaseEstimator.__dict__.get("__init_subclass__") is not init_subclass
    finally:
        run.finish()
    for key, original in before.items():
        wrapped = during[key]
        assert wrapped is not original, key
        assert wrapped.__wrapped__ is original
        assert (wrapped.__name__, wrapped.__qualname__) == (
            original.__name__,
            original.__qualname__,
        )
        assert wrapped.__doc__ == original.__doc__
        assert inspect.signature(wrapped) == inspect.signature(original)
    assert _tracked(classes) == before
    assert BaseEstimator.__dict__.get("__init_subclass__") is init_subclass


def test_available_if_metadata_routing_and_set_output_still_work(recorded: Recorded) -> None:
    assert not hasattr(Pipeline([("reg", LinearRegression())]), "predict_proba")
    assert hasattr(Pipeline([("clf", LogisticRegression())]), "predict_proba")

    frame = StandardScaler().set_output(transform="pandas").fit_transform(X)
    assert type(frame).__name__ == "DataFrame" and frame.shape == X.shape

    weights = np.linspace(0.1, 2.0, len(y))
    with sklearn.config_context(enable_metadata_routing=True):
        routed = LogisticRegression().set_fit_request(sample_weight=True)
        Pipeline([("clf", routed)]).fit(X, y, sample_weight=weights)
    direct = LogisticRegression().fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(routed.coef_, direct.coef_)

    labels = KMeans(n_clusters=2, n_init=1, random_state=0).fit_predict(X)
    assert sorted(set(labels)) == [0, 1]
    recorded.finish()
    # fit_transform (TransformerMixin's, under set_output's wrapper) and fit_predict count once
    fits = sorted((step, m) for m, step in recorded.metrics() if m.endswith("/fit_seconds"))
    assert fits == [
        (0, "StandardScaler/fit_seconds"),
        (1, "Pipeline/fit_seconds"),
        (2, "LogisticRegression/fit_seconds"),
        (3, "KMeans/fit_seconds"),
    ]


# --- failures -----------------------------------------------------------------------------


def test_a_failing_hook_turns_itself_off_and_training_goes_on(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(estimator: Any) -> dict[str, Any]:
        raise RuntimeError("params exploded")

    monkeypatch.setattr(sklearn_hook, "_params", broken)
    model = LogisticRegression()
    with caplog.at_level(logging.WARNING, logger="tracelet"):
        assert model.fit(X, y) is model
        assert model.predict(X).shape == y.shape
        assert model.fit(X[:60], y[:60]) is model
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "sklearn hook is off" in warnings[0] and "params exploded" in warnings[0]
    assert model.n_features_in_ == X.shape[1] and model.coef_.shape == (3, X.shape[1])
    recorded.finish()
    assert [e["e"] for e in recorded.events()] == ["train"]  # nothing after the failure


def test_an_error_in_the_users_fit_propagates_unchanged(recorded: Recorded) -> None:
    original = LogisticRegression.fit.__wrapped__
    with pytest.raises(ValueError) as untracked:
        original(LogisticRegression(), X, y[:10])
    with pytest.raises(ValueError) as tracked:
        LogisticRegression().fit(X, y[:10])
    assert str(tracked.value) == str(untracked.value)
    LogisticRegression(C=3.0).fit(X, y)  # the next fit is outermost again
    recorded.finish()
    metrics = recorded.metrics()
    assert ("LogisticRegression/fit_seconds", 0) not in metrics  # the failed fit: no metrics
    assert ("LogisticRegression_2/fit_seconds", 1) in metrics


# --- end to end ---------------------------------------------------------------------------

SCRIPT = """
import json
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

C = 0.5
X, y = make_classification(n_samples=80, n_features=4, n_informative=3, n_redundant=0,
                           random_state=0)
model = LogisticRegression(C=C).fit(X, y)
accuracy = model.score(X, y)
search = GridSearchCV(Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]),
                      {"clf__C": [0.1, 1.0]}, cv=2).fit(X, y)
print(json.dumps({"accuracy": accuracy, "best_score": search.best_score_,
                  "best_C": search.best_params_["clf__C"]}))
"""

EXPERIMENT = """
from tracelet import Experiment
experiment = Experiment("sk", automagic=True).start()
"""


def _check_store(uri: str, experiment: str, stdout: str) -> None:
    """The params and metrics of SCRIPT, exactly, in the MLflow store at `uri`."""
    printed = json.loads(stdout.strip().splitlines()[-1])
    run = only_run(uri, experiment)
    assert run.info.status == "FINISHED"
    search = GridSearchCV(
        Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]),
        {"clf__C": [0.1, 1.0]},
        cv=2,
    )
    expected = {f"LogisticRegression.{k}" for k in LogisticRegression().get_params()}
    expected |= {f"GridSearchCV.{k.replace('__', '.')}" for k in search.get_params()}
    expected.add("GridSearchCV.best_params.clf.C")
    params = run.data.params
    assert {k for k in params if k.split(".")[0] in ("LogisticRegression", "GridSearchCV")} == (
        expected
    )
    assert params["C"] == "0.5" and params["LogisticRegression.C"] == "0.5"
    assert params["GridSearchCV.estimator.clf.C"] == "1.0"
    assert params["GridSearchCV.best_params.clf.C"] == str(printed["best_C"])
    metrics = {k for k in run.data.metrics if not k.startswith("system/")}
    fit = ("fit_seconds", "n_samples", "n_features", "n_classes")
    assert metrics == {
        *(f"LogisticRegression/{name}" for name in (*fit, "score")),
        *(f"GridSearchCV/{name}" for name in (*fit, "best_score")),
    }
    series = {name: metric_series(uri, run.info.run_id, name) for name in metrics}
    assert series["LogisticRegression/n_samples"] == [(0, 80.0)]
    assert series["LogisticRegression/n_classes"] == [(0, 2.0)]
    assert series["LogisticRegression/score"] == [(0, pytest.approx(printed["accuracy"]))]
    assert series["GridSearchCV/n_features"] == [(1, 4.0)]
    assert series["GridSearchCV/best_score"] == [(1, pytest.approx(printed["best_score"]))]
    assert [step for step, _ in series["GridSearchCV/fit_seconds"]] == [1]


VARIANTS = ("tracelet run", "sklearn first", "experiment first")


def _script(variant: str) -> str:
    body = textwrap.dedent(SCRIPT)
    start = textwrap.dedent(EXPERIMENT)
    if variant == "tracelet run":
        return body
    if variant == "experiment first":
        return start + body + "experiment.end()\n"
    return body.replace("\nC = 0.5", start + "C = 0.5") + "experiment.end()\n"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, Any]]:
    """Each variant run once, all at the same time (most of a run is MLflow starting up)."""

    def launch(variant: str) -> tuple[str, Any]:
        folder = tmp_path_factory.mktemp(variant.replace(" ", "_"))
        (folder / "train.py").write_text(_script(variant))
        env = store_env(folder)
        if variant == "tracelet run":
            result = tracelet_run(folder, "--quiet", "train.py", env=env)
        else:
            result = python_run(folder, "train.py", env=env)
        return env["MLFLOW_TRACKING_URI"], result

    with ThreadPoolExecutor(len(VARIANTS)) as pool:
        return dict(zip(VARIANTS, pool.map(launch, VARIANTS), strict=True))


def test_under_tracelet_run_params_and_metrics_land_in_mlflow(finished) -> None:
    uri, result = finished["tracelet run"]
    assert result.returncode == 0, result.stderr
    _check_store(uri, "train", result.stdout)


@pytest.mark.parametrize("order", ["sklearn first", "experiment first"])
def test_under_python_with_experiment_in_either_import_order(finished, order: str) -> None:
    uri, result = finished[order]
    assert result.returncode == 0, result.stderr
    _check_store(uri, "sk", result.stdout)
