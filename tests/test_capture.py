"""The capture entry points, through a real spool under tmp_path."""

from __future__ import annotations

import argparse
import configparser
import enum
import importlib.util
import logging
import math
import os
import re
import sys
import textwrap
import threading
import types
from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from tracelet.runtime import capture as capture_module
from tracelet.runtime.capture import Capture
from tracelet.runtime.spool import SpoolReader, SpoolWriter

ROOT = Path(__file__).resolve().parent.parent


class Run:
    """A Capture writing into a real spool, and what it wrote."""

    def __init__(self, root: Path, redact: bool = True) -> None:
        self.writer = SpoolWriter.create(root, experiment="test")
        self.capture = Capture(self.writer, redact=redact)
        self.reader = SpoolReader(self.writer.run_dir)

    def events(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != "t"} for e in self.reader.events()]

    def params(self) -> dict[str, Any]:
        return {e["k"]: e["v"] for e in self.events() if e["e"] == "param"}


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return Run(tmp_path)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# --- normalisation ----------------------------------------------------------------------


class Color(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    HIGH = 3


class Scalar0d:
    """Duck-types a 0-d numpy array or torch tensor."""

    ndim = 0

    def __init__(self, value: object) -> None:
        self.value = value

    def item(self) -> object:
        return self.value


class Vector1d:
    ndim = 1

    def __init__(self, values: list) -> None:
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def tolist(self) -> list:
        return list(self.values)


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


NORMALISED = [
    (3, 3),
    (0.1, 0.1),
    (True, True),
    (None, None),
    ("adam", "adam"),
    (Path("data/train"), "data/train"),
    (PurePosixPath("/x/y"), "/x/y"),
    ((1, 2), [1, 2]),
    ([0.5, "a", None, False], [0.5, "a", None, False]),
    ([[64, 64], (32,)], [[64, 64], [32]]),
    ((Path("a"), Color.RED), ["a", "Color.RED"]),
    (Color.RED, "Color.RED"),
    (Level.HIGH, "Level.HIGH"),
    (Scalar0d(0.25), 0.25),
    (Scalar0d(7), 7),
    (Vector1d([1, 2, 3]), [1, 2, 3]),
    (Opaque(), "Opaque()"),
    ([1, Opaque()], "[1, Opaque()]"),
    ({"a": 1}, "{'a': 1}"),
    (b"raw", "b'raw'"),
    (2**50000, "<int of 50001 bits>"),
]


@pytest.mark.parametrize(("value", "expected"), NORMALISED, ids=lambda v: type(v).__name__)
def test_values_are_normalised(run: Run, value: object, expected: object) -> None:
    run.capture.param("x", value)
    recorded = run.params()["x"]
    assert recorded == expected and type(recorded) is type(expected)
    assert run.capture.snapshot() == {"x": expected}


def test_numpy_and_torch_scalars_become_python_numbers(run: Run) -> None:
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    values = {
        "np_float": (np.float32(0.5), 0.5),
        "np_int": (np.int64(3), 3),
        "np_bool": (np.bool_(True), True),
        "np_0d": (np.array(2.5), 2.5),
        "np_vec": (np.array([1.0, 2.0]), [1.0, 2.0]),
        "np_str": (np.str_("adam"), "adam"),
        "t_float": (torch.tensor(0.25), 0.25),
        "t_int": (torch.tensor(4), 4),
        "t_vec": (torch.tensor([1, 2]), [1, 2]),
        "t_size": (torch.Size([3, 4]), [3, 4]),
        "t_dtype": (torch.float32, "torch.float32"),
    }
    for name, (value, _) in values.items():
        run.capture.param(name, value)
    params = run.params()
    for name, (_, expected) in values.items():
        assert params[name] == expected and type(params[name]) is type(expected), name


def test_nan_captured_again_is_not_a_change(run: Run) -> None:
    run.capture.param("x", float("nan"))
    run.capture.param("x", float("nan"))
    events = run.events()
    assert len(events) == 1 and math.isnan(events[0]["v"])


# --- secrets ----------------------------------------------------------------------------


SECRET_NAMES = [
    "password", "DB_PASSWORD", "passwd", "client_secret", "hf_token", "TOKEN", "apiKey",
    "API_KEY", "openai_apikey", "aws_access_key_id", "private_key_path", "credentials",
    "auth", "AuthHeader", "authorization", "db.password", "secrets",
]  # fmt: skip
PUBLIC_NAMES = ["max_tokens", "tokenizer", "author", "num_tokens", "authority", "keypoints", "lr"]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names_are_redacted(run: Run, name: str) -> None:
    run.capture.param(name, "s3cr3t-value")
    assert run.params() == {name: "***"}
    assert "s3cr3t" not in run.writer.path.read_text()


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_names_that_only_contain_a_secret_word_are_kept(run: Run, name: str) -> None:
    run.capture.param(name, 128)
    assert run.params() == {name: 128}


def test_urls_with_user_info_are_redacted(run: Run) -> None:
    run.capture.param("db_url", "postgresql://user:pw@db.example.com/runs")
    run.capture.param("mirrors", ["https://a.example.com", "https://bob:pw@b.example.com"])
    run.capture.param("homepage", "https://example.com/a@b")
    run.capture.param("email", "me@example.com")
    assert run.params() == {
        "db_url": "***",
        "mirrors": "***",
        "homepage": "https://example.com/a@b",
        "email": "me@example.com",
    }


def test_changes_of_a_secret_are_not_recorded(run: Run) -> None:
    run.capture.param("api_token", 1234)
    run.capture.param("api_token", 5678)
    run.capture.param("url", "https://u:p@h/")
    run.capture.param("url", "https://u:q@h/")
    assert run.events() == [
        {"e": "param", "k": "api_token", "v": "***"},
        {"e": "param", "k": "url", "v": "***"},
    ]


def test_redaction_can_be_turned_off(tmp_path: Path) -> None:
    run = Run(tmp_path, redact=False)
    run.capture.param("password", "hunter2")
    assert run.params() == {"password": "hunter2"}


def test_tags_are_redacted_too(run: Run) -> None:
    run.capture.tag("hf_token", "abc")
    run.capture.tag("remote", "https://u:p@host/x")
    run.capture.tag("note", "fine")
    assert [e["v"] for e in run.events()] == ["***", "***", "fine"]


# --- limits -----------------------------------------------------------------------------


def test_long_values_are_truncated_with_a_tag(run: Run) -> None:
    run.capture.param("prompt", "x" * 7000)
    run.capture.param("layers", list(range(2000)))  # str() is longer than 6000
    events = run.events()
    prompt, note, layers, note2 = events
    assert len(prompt["v"]) == 6000 and prompt["v"].endswith("...")
    assert note == {
        "e": "tag", "k": "tracelet.truncated.prompt", "v": "7000 characters, truncated to 6000",
    }  # fmt: skip
    assert isinstance(layers["v"], str) and len(layers["v"]) == 6000
    assert layers["v"].startswith("[0, 1, 2") and note2["k"] == "tracelet.truncated.layers"
    assert int(note2["v"].split()[0]) == len(repr(list(range(2000))))


def test_a_6000_character_value_is_kept_whole(run: Run) -> None:
    run.capture.param("prompt", "y" * 6000)
    assert run.params() == {"prompt": "y" * 6000}


def test_long_tag_values_are_truncated_at_8000(run: Run) -> None:
    run.capture.tag("notes", "z" * 9000)
    tag, note = run.events()
    assert len(tag["v"]) == 8000 and note["k"] == "tracelet.truncated.notes"


def test_long_names_are_shortened_with_a_stable_hash(tmp_path: Path) -> None:
    long_a, long_b = "a" * 300, "a" * 299 + "b"
    first = Run(tmp_path / "1")
    first.capture.param(long_a, 1)
    first.capture.param(long_b, 2)
    keys = list(first.params())
    assert [len(k) for k in keys] == [250, 250] and keys[0] != keys[1]
    assert all(k.startswith("a" * 241 + "~") for k in keys)
    second = Run(tmp_path / "2")
    second.capture.param(long_a, 1)
    assert list(second.params()) == keys[:1]  # stable: a hash, not a counter


def test_long_names_of_changes_stay_under_the_limit(run: Run) -> None:
    name = "n" * 248
    run.capture.param(name, 1)
    run.capture.param(name, 2)
    metric = [e for e in run.events() if e["e"] == "metric"]
    assert metric and all(len(e["k"]) <= 250 for e in metric)


def test_characters_mlflow_refuses_are_replaced(run: Run) -> None:
    run.capture.mapping("cfg", {"a,b": 1, "x/../y": 2, "ü": 3, "/lead": 4})
    assert list(run.params()) == ["cfg.a_b", "cfg.x/_/y", "cfg.ü", "cfg./lead"]


# --- scopes and changes -----------------------------------------------------------------


def test_a_clashing_name_is_qualified_by_its_scope(run: Run) -> None:
    run.capture.param("lr", 0.1)
    run.capture.param("lr", 0.01, "train")
    run.capture.param("lr", 0.1, "evaluate")  # same value: the same param
    run.capture.param("lr", 0.001, "Trainer.fit")
    run.capture.args("Model.__init__", lr=0.5)  # a dunder method: its class qualifies
    run.capture.args("Other.train", lr=0.2)  # "train.lr" is taken: the full qualname
    assert run.params() == {
        "lr": 0.1, "train.lr": 0.01, "fit.lr": 0.001, "Model.lr": 0.5, "Other.train.lr": 0.2,
    }  # fmt: skip


def test_module_level_second_is_qualified_as_module(run: Run) -> None:
    run.capture.param("lr", 0.01, "main")
    run.capture.param("lr", 0.1)
    assert run.params() == {"lr": 0.01, "module.lr": 0.1}


def test_a_scope_that_shared_a_param_gets_its_own_once_it_differs(run: Run) -> None:
    run.capture.param("lr", 0.1)
    run.capture.args("train", lr=0.1)
    run.capture.args("train", lr=0.05)
    run.capture.args("train", lr=0.02)
    assert run.events() == [
        {"e": "param", "k": "lr", "v": 0.1},
        {"e": "param", "k": "train.lr", "v": 0.05},
        {"e": "metric", "k": "param/train.lr", "v": 0.05, "s": 0},
        {"e": "metric", "k": "param/train.lr", "v": 0.02, "s": 1},
    ]


def test_a_numeric_change_becomes_a_metric_series(run: Run) -> None:
    for value in (0.1, 0.1, 0.2, 0.3, 0.3, 0.1, 1):
        run.capture.param("lr", value)
    assert run.events() == [
        {"e": "param", "k": "lr", "v": 0.1},
        {"e": "metric", "k": "param/lr", "v": 0.1, "s": 0},
        {"e": "metric", "k": "param/lr", "v": 0.2, "s": 1},
        {"e": "metric", "k": "param/lr", "v": 0.3, "s": 2},
        {"e": "metric", "k": "param/lr", "v": 0.1, "s": 3},
        {"e": "metric", "k": "param/lr", "v": 1.0, "s": 4},
    ]
    assert run.capture.snapshot() == {"lr": 0.1}  # the param is the first value


def test_an_equal_int_and_float_are_not_a_change(run: Run) -> None:
    run.capture.param("epochs", 10)
    run.capture.param("epochs", 10.0)
    run.capture.param("flag", 1)
    run.capture.param("flag", True)  # a bool is not the number 1
    assert [e["e"] for e in run.events()] == ["param", "param", "tag"]


def test_any_other_change_becomes_a_tag_with_the_latest_value(run: Run) -> None:
    run.capture.param("optimizer", "sgd")
    run.capture.param("optimizer", "adam")
    run.capture.param("optimizer", "adamw")
    run.capture.param("layers", [64, 64])
    run.capture.param("layers", [128, 64])
    run.capture.param("mode", "fast")
    run.capture.param("mode", 3)  # numeric, but the param was not: a series without step 0
    assert run.events() == [
        {"e": "param", "k": "optimizer", "v": "sgd"},
        {"e": "tag", "k": "param/optimizer", "v": "adam"},
        {"e": "tag", "k": "param/optimizer", "v": "adamw"},
        {"e": "param", "k": "layers", "v": [64, 64]},
        {"e": "tag", "k": "param/layers", "v": "[128, 64]"},
        {"e": "param", "k": "mode", "v": "fast"},
        {"e": "metric", "k": "param/mode", "v": 3.0, "s": 1},
    ]


def test_a_list_mutated_in_place_is_seen_as_changed(run: Run) -> None:
    layers = [64, 64]
    run.capture.param("layers", layers)
    layers.append(10)
    run.capture.param("layers", layers)
    assert run.events()[-1] == {"e": "tag", "k": "param/layers", "v": "[64, 64, 10]"}


def test_an_unchanged_value_writes_nothing(run: Run) -> None:
    run.capture.param("lr", 0.1)
    run.capture.args("train", epochs=3, name="x")
    size = run.writer.path.stat().st_size
    for _ in range(100):
        run.capture.param("lr", 0.1)
        run.capture.param("lr", 0.05 + 0.05)  # equal, another object
        run.capture.args("train", epochs=3, name="x")
    assert run.writer.path.stat().st_size == size


def test_concurrent_first_captures_record_each_param_once(run: Run) -> None:
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for i in range(200):
            run.capture.param(f"p{i}", i)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [e["k"] for e in run.events()]
    assert sorted(keys) == sorted(f"p{i}" for i in range(200))


# --- args and mapping -------------------------------------------------------------------


def test_args_captures_and_returns_the_identity(run: Run) -> None:
    marker = object()
    wrap = run.capture.args("train", epochs=3, lr=0.1)
    assert wrap(marker) is marker
    assert run.params() == {"epochs": 3, "lr": 0.1}


def test_mapping_of_an_argparse_namespace(run: Run) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--data", type=Path, default=Path("data"))
    args = parser.parse_args(["--lr", "0.01"])
    assert run.capture.mapping("", args) is args
    assert run.params() == {"lr": 0.01, "data": "data"}


def test_mapping_of_a_parse_known_args_tuple(run: Run) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    known = parser.parse_known_args(["--epochs", "5", "--unknown", "x"])
    assert run.capture.mapping("", known) is known
    assert run.params() == {"epochs": 5}


def test_mapping_of_a_nested_dict_with_a_prefix(run: Run) -> None:
    config = {"optimizer": {"name": "adam", "betas": (0.9, 0.99)}, "epochs": 3, 7: "seven"}
    assert run.capture.mapping("config", config) is config
    assert run.params() == {
        "config.optimizer.name": "adam", "config.optimizer.betas": [0.9, 0.99],
        "config.epochs": 3, "config.7": "seven",
    }  # fmt: skip


@dataclass
class Optim:
    lr: float = 0.1
    betas: tuple = (0.9, 0.999)


@dataclass
class TrainConfig:
    epochs: int = 10
    optim: Optim = field(default_factory=Optim)
    tags: list = field(default_factory=list)


def test_mapping_of_a_dataclass_instance_reads_the_instance(run: Run) -> None:
    config = TrainConfig(epochs=3, optim=Optim(lr=0.02))  # overrides, as a CLI parser makes
    assert run.capture.mapping("", config) is config
    assert run.params() == {
        "epochs": 3, "optim.lr": 0.02, "optim.betas": [0.9, 0.999], "tags": [],
    }  # fmt: skip


def test_mapping_of_a_configparser_and_a_section(run: Run) -> None:
    parser = configparser.ConfigParser()
    parser.read_string(
        "[DEFAULT]\nroot = /data\n[train]\nlr = 0.1\npath = %(root)s/train\n"
        "[eval]\nbroken = %(missing)s\n"
    )
    run.capture.mapping("ini", parser)
    run.capture.mapping("section", parser["train"])
    assert run.params() == {
        "ini.train.lr": "0.1", "ini.train.path": "/data/train", "ini.train.root": "/data",
        "ini.eval.broken": "%(missing)s", "ini.eval.root": "/data",
        "section.lr": "0.1", "section.path": "/data/train", "section.root": "/data",
    }  # fmt: skip


class _FakeOmegaConf:
    """Stands in for `omegaconf.OmegaConf` (not installed here): to_container resolves
    ``${key}`` interpolations as OmegaConf does."""

    @staticmethod
    def to_container(cfg: Any, resolve: bool = False, throw_on_missing: bool = False) -> dict:
        def convert(node: Any) -> Any:
            if isinstance(node, FakeDictConfig):
                return {k: convert(v) for k, v in node._content.items()}
            if resolve and isinstance(node, str) and node.startswith("${"):
                return convert(cfg._content[node[2:-1]])
            return node

        return convert(cfg)


class FakeDictConfig:
    """Stands in for OmegaConf's DictConfig: same module and class name, no Mapping base,
    and values only reachable through OmegaConf.to_container."""

    __module__ = "omegaconf.dictconfig"

    def __init__(self, content: dict) -> None:
        self._content = content


def test_mapping_of_an_omegaconf_dictconfig_is_duck_typed(run: Run, monkeypatch) -> None:
    fake = types.ModuleType("omegaconf")
    fake.OmegaConf = _FakeOmegaConf  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "omegaconf", fake)
    cfg = FakeDictConfig({"lr": 0.1, "model": FakeDictConfig({"depth": 4}), "warm_lr": "${lr}"})
    assert run.capture.mapping("", cfg) is cfg
    assert run.params() == {"lr": 0.1, "model.depth": 4, "warm_lr": 0.1}


def test_mapping_of_other_containers(run: Run) -> None:
    Point = namedtuple("Point", "x y")
    run.capture.mapping("ns", types.SimpleNamespace(a=1))
    run.capture.mapping("nt", Point(1, 2))
    run.capture.mapping("leaf", 5)  # not a container: the prefix is its name
    run.capture.mapping("", 6)  # no name at all: nothing
    cyclic: dict = {"k": 1}
    cyclic["self"] = cyclic
    run.capture.mapping("cyc", cyclic)
    params = run.params()
    assert {k: params[k] for k in ("ns.a", "nt.x", "nt.y", "leaf", "cyc.k")} == {
        "ns.a": 1, "nt.x": 1, "nt.y": 2, "leaf": 5, "cyc.k": 1,
    }  # fmt: skip
    assert params["cyc.self"].startswith("{'k': 1")  # the cycle is cut, as text


def test_a_namespace_overriding_a_module_value_is_qualified_as_args(run: Run) -> None:
    run.capture.param("lr", 0.1)
    run.capture.mapping("", argparse.Namespace(lr=0.01, epochs=3))
    run.capture.mapping("", argparse.Namespace(lr=0.1))  # equal: the same param
    assert run.params() == {"lr": 0.1, "args.lr": 0.01, "epochs": 3}


def _map_then_change(run: Run) -> None:
    args = argparse.Namespace(lr=0.1, optimizer="sgd")
    config = TrainConfig()
    run.capture.mapping("", args)
    run.capture.mapping("cfg", config)
    vars(args).update({"lr": 0.5, "optimizer": "adam"})  # vars(args).update(loaded_yaml)
    config.epochs = 99  # setattr loops over a config object


def test_before_training_the_value_in_effect_replaces_the_param(run: Run) -> None:
    _map_then_change(run)
    run.capture.start_training()  # reads mapped objects again
    params = run.params()  # the last value of each param in the spool
    assert {k: params[k] for k in ("lr", "optimizer", "cfg.epochs")} == {
        "lr": 0.5, "optimizer": "adam", "cfg.epochs": 99,
    }  # fmt: skip
    assert run.capture.snapshot()["lr"] == 0.5
    assert not [e for e in run.events() if e.get("k", "").startswith("param/")]
    assert run.events()[-1]["e"] == "train"


def test_start_training_runs_once_and_calls_back(run: Run) -> None:
    calls: list[str] = []
    run.capture.when_training_starts(lambda: calls.append("started"))
    run.capture.start_training()
    run.capture.start_training()
    assert calls == ["started"]
    assert [e["e"] for e in run.events()].count("train") == 1


def _run_as_main(run: Run, code: str) -> None:
    """Run `code` as the rewritten `__main__` of this capture would run."""
    exec(textwrap.dedent(code), {"__name__": "__main__", "__tracelet__": run.capture})


def test_a_config_instance_gives_its_fields_once_without_made_up_changes(run: Run) -> None:
    _run_as_main(
        run,
        """
        from dataclasses import dataclass

        @dataclass
        class Config:
            lr: float = 0.1
            __tracelet__.param("lr", lr, "Config")

        def main():
            cfg = Config(lr=0.01)  # built with an override, held in a local
            __tracelet__.start_training()
            __tracelet__.recheck()  # the end of the run

        main()
        """,
    )
    assert run.params()["lr"] == 0.01
    assert not [e for e in run.events() if e.get("k", "").startswith("param/")]


def test_a_replaced_param_gives_scopes_that_shared_the_old_value_their_own(run: Run) -> None:
    _run_as_main(
        run,
        """
        lr = 0.1; __tracelet__.param("lr", lr)
        globals().update(lr=0.5)  # invisible to the rewrite

        def train(lr=0.1):
            __tracelet__.args("train", lr=lr)  # equal to the module's: shares its param
            __tracelet__.start_training()

        train()
        """,
    )
    assert {k: run.params()[k] for k in ("lr", "train.lr")} == {"lr": 0.5, "train.lr": 0.1}


def test_values_recorded_by_hooks_are_not_read_back_from_globals(run: Run) -> None:
    _run_as_main(
        run,
        """
        scheduler = object()  # the script's own name
        __tracelet__.param("scheduler", "StepLR", "pytorch")  # what a hook records
        __tracelet__.start_training()
        __tracelet__.recheck()
        """,
    )
    assert run.params()["scheduler"] == "StepLR"
    assert not [e for e in run.events() if e.get("k", "").startswith("param/")]


def test_after_training_started_recheck_records_changes(run: Run) -> None:
    run.capture.start_training()
    _map_then_change(run)
    run.capture.recheck()
    changes = [e for e in run.events() if e.get("k", "").startswith("param/")]
    assert changes == [
        {"e": "metric", "k": "param/lr", "v": 0.1, "s": 0},
        {"e": "metric", "k": "param/lr", "v": 0.5, "s": 1},
        {"e": "tag", "k": "param/optimizer", "v": "adam"},
        {"e": "metric", "k": "param/cfg.epochs", "v": 10.0, "s": 0},
        {"e": "metric", "k": "param/cfg.epochs", "v": 99.0, "s": 1},
    ]


# --- hooks' entry points ----------------------------------------------------------------


def test_metric_and_tag(run: Run) -> None:
    run.capture.metric("loss", 0.5, 10)
    run.capture.metric("acc", Scalar0d(0.75), 11)
    run.capture.metric("count", 3, None)
    run.capture.tag("framework", "torch")
    run.capture.tag("versions", ["2.13", 3])
    assert run.events() == [
        {"e": "metric", "k": "loss", "v": 0.5, "s": 10},
        {"e": "metric", "k": "acc", "v": 0.75, "s": 11},
        {"e": "metric", "k": "count", "v": 3.0, "s": 0},
        {"e": "tag", "k": "framework", "v": "torch"},
        {"e": "tag", "k": "versions", "v": "['2.13', 3]"},
    ]


def test_metrics_flush_a_buffer_with_one_write(run: Run, monkeypatch) -> None:
    writes: list[bytes] = []
    real_write = os.write
    monkeypatch.setattr(
        os, "write", lambda fd, data: writes.append(bytes(data)) or real_write(fd, data)
    )
    run.capture.metrics(
        [
            ("train/loss", 0.5, 0, 1000),
            ("train/lr", Scalar0d(0.1), 0, 1000),
            ("bad name!", 2, 1, None),
        ]
    )
    assert len(writes) == 1
    events = run.reader.events()
    assert [(e["k"], e["v"], e["s"]) for e in events] == [
        ("train/loss", 0.5, 0), ("train/lr", 0.1, 0), ("bad name_", 2.0, 1),
    ]  # fmt: skip
    assert events[0]["t"] == events[1]["t"] == 1000 and events[2]["t"] > 1000


# --- never break training ---------------------------------------------------------------


class Hostile:
    """Raises from everything tracelet might call."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    __hash__ = object.__hash__

    @property
    def ndim(self) -> int:
        raise RuntimeError("no ndim")


def test_a_value_whose_repr_raises_does_not_propagate(run: Run, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="tracelet"):
        run.capture.param("model", Hostile())
        run.capture.param("model", Hostile())
        run.capture.args("train", model=Hostile(), lr=0.1)
        run.capture.mapping("cfg", {"model": Hostile()})
        run.capture.tag("model", Hostile())
    assert _warnings(caplog) == []  # handled as a value, not as an internal error
    assert run.params() == {"model": "<Hostile object>", "lr": 0.1, "cfg.model": "<Hostile object>"}


def test_an_internal_error_is_logged_once_and_training_goes_on(run: Run, caplog) -> None:
    class BadMapping(dict):
        def items(self):  # type: ignore[override]
            raise RuntimeError("broken items")

    bad = BadMapping(a=1)
    with caplog.at_level(logging.WARNING, logger="tracelet"):
        for _ in range(3):
            run.capture.param(["unhashable"], 1)  # type: ignore[arg-type]
            assert run.capture.args(["unhashable"], lr=1)(5) == 5  # type: ignore[arg-type]
            assert run.capture.mapping("m", bad) is bad
            run.capture.metric("loss", "not a number", 1)
        run.capture.param("lr", 0.1)
    warnings = _warnings(caplog)
    assert len(warnings) == 4, warnings
    assert {w.split(" in ")[1].split("(")[0] for w in warnings} == {
        "param", "args", "mapping", "metric",
    }  # fmt: skip
    assert run.params() == {"lr": 0.1}


def test_an_unwritable_spool_does_not_stop_capture(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING, logger="tracelet"):
        capture = Capture(SpoolWriter.create(blocker))
        capture.param("lr", 0.1)
        capture.param("lr", 0.2)
        capture.metric("loss", 1.0, 1)
    assert capture.snapshot() == {"lr": 0.1}
    assert len(_warnings(caplog)) == 1


def test_without_a_writer_values_are_only_kept_for_the_snapshot() -> None:
    capture = Capture()
    capture.param("lr", 0.1)
    capture.metric("loss", 1.0, 1)
    assert capture.snapshot() == {"lr": 0.1}


def test_the_fast_path_is_a_dict_lookup(monkeypatch) -> None:
    capture = Capture()
    capture.param("lr", 0.1, "train")
    calls: list = []
    monkeypatch.setattr(capture, "_capture", lambda *a: calls.append(a))
    capture.param("lr", 0.1, "train")
    capture.args("train", lr=0.1)
    assert calls == []
    capture.param("lr", 0.2, "train")
    assert len(calls) == 1


def test_limits_match_mlflow() -> None:
    """Read from MLflow's source, not imported: importing mlflow costs seconds."""
    spec = importlib.util.find_spec("mlflow")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("mlflow is not installed")
    source = (Path(spec.submodule_search_locations[0]) / "utils" / "validation.py").read_text()
    limits = dict(re.findall(r"^(MAX_\w+) = (\d+)$", source, re.MULTILINE))
    assert int(limits["MAX_PARAM_VAL_LENGTH"]) == capture_module.MAX_PARAM_VALUE
    assert int(limits["MAX_TAG_VAL_LENGTH"]) == capture_module.MAX_TAG_VALUE
    assert int(limits["MAX_ENTITY_KEY_LENGTH"]) == capture_module.MAX_KEY
