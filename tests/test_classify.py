"""Every classifier rule's own examples, the spec's examples, pragmas and each kind of site."""

from __future__ import annotations

import pytest

from tests.support import run_engine
from tracelet.transforms.classify import RULES, Candidate, Rule, classify, tokens
from tracelet.transforms.options import Detect

EXAMPLES = [(rule, snippet, True) for rule in RULES for snippet in rule.hits] + [
    (rule, snippet, False) for rule in RULES for snippet in rule.misses
]


def _fired(rule: Rule, snippet: str) -> bool:
    analysis = run_engine(snippet).analysis
    if rule.weight is None:
        return any(site.rejected_by == rule.code for site in analysis.rejected)
    return any(rule.reason in site.reasons for site in analysis.sites)


@pytest.mark.parametrize(
    ("rule", "snippet", "fires"),
    EXAMPLES,
    ids=[f"{r.code}-{'hit' if f else 'miss'}-{i}" for i, (r, _, f) in enumerate(EXAMPLES)],
)
def test_rule_examples(rule: Rule, snippet: str, fires: bool) -> None:
    assert _fired(rule, snippet) is fires


def test_every_rule_has_an_example_that_fires() -> None:
    assert all(rule.hits for rule in RULES)
    assert len({rule.code for rule in RULES}) == len(RULES)


def _accepted(code: str) -> set[str]:
    return {site.name for site in run_engine(code).analysis.sites}


def test_spec_name_patterns_value_ranges_types_and_keywords_are_detected() -> None:
    code = """
    learning_rate = 0.001
    batch_size = 64
    num_layers = 5
    hidden_dim = 256
    max_epochs = 100
    dropout = 0.3
    temperature = 2.0
    use_layer_norm = True
    enable_dropout = False
    optimizer = "adamw"
    activation = "gelu"
    lr_scheduler = "cosine"
    alpha = 0.7
    beta1 = 0.9
    epsilon = 1e-8
    patience = 10
    threshold = 1e-4
    use_attention = True
    hidden_layers = [256, 128, 64]
    """
    names = {line.split("=")[0].strip() for line in code.strip().splitlines()}
    assert _accepted(code) == names


def test_spec_smart_filtering_exclusions() -> None:
    code = """
    import torch.nn as nn
    for i in range(3):
        pass
    model = nn.Sequential()
    device = "cuda"
    tmp_value = 123
    _private_var = "test"
    """
    result = run_engine(code).analysis
    assert result.sites == []
    assert {s.name for s in result.rejected} == {
        "i",
        "model",
        "device",
        "tmp_value",
        "_private_var",
    }


def test_function_level_needs_a_hyperparameter_name() -> None:
    code = """
    def main():
        batch_size = 64
        total = 0
        correct = 0
        greeting = "hello"
        running_loss = 0.0
    """
    assert _accepted(code) == {"batch_size"}


def test_derived_values_count_only_with_a_hyperparameter_name() -> None:
    code = """
    max_iters = 1000
    warmup_iters = int(0.1 * max_iters)
    half = max_iters / 2
    """
    assert _accepted(code) == {"max_iters", "warmup_iters"}


def test_pragmas_force_and_drop() -> None:
    code = """
    answer = 42  # tracelet: param
    learning_rate = 0.1  # tracelet: ignore
    """
    result = run_engine(code).analysis
    assert [s.name for s in result.sites] == ["answer"]
    assert result.sites[0].reasons == ("forced by `# tracelet: param`",)
    assert [s.rejected_by for s in result.rejected] == ["pragma"]


def test_pragma_on_any_line_of_a_multi_line_statement() -> None:
    code = """
    params = {  # tracelet: ignore
        "max_depth": 6,
    }
    """
    assert _accepted(code) == set()


def test_kinds_of_sites() -> None:
    code = """
    import argparse, yaml, configparser
    from dataclasses import dataclass
    import torch.optim as optim
    learning_rate = 0.1
    def train(model, epochs=10):
        return optim.Adam(model.parameters(), lr=3e-4)
    @dataclass
    class TrainConfig:
        warmup: int = 5
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=32, help="per device")
    args = parser.parse_args()
    with open("c.yaml") as f:
        cfg = yaml.safe_load(f)
    ini = configparser.ConfigParser()
    ini.read("setup.ini")
    """
    sites = {(s.name, s.kind) for s in run_engine(code).analysis.sites}
    assert sites == {
        ("learning_rate", "assign"),
        ("epochs", "func_arg"),
        ("Adam.lr", "call_kwarg"),
        ("warmup", "class_attr"),
        ("batch_size", "argparse"),
        ("cfg", "config_load"),
        ("ini", "config_load"),
    }


def test_argparse_dest_is_derived_as_argparse_does() -> None:
    code = """
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("-b", "--batch-size", type=int, default=32)
    p.add_argument("-e", type=int, default=3)
    p.add_argument("--lr", "--learning-rate", dest="learning_rate", default=0.1)
    p.add_argument("data-dir")
    p.add_argument("--fp16", action="store_true")
    """
    sites = {s.name: s for s in run_engine(code).analysis.sites}
    assert set(sites) == {"batch_size", "e", "learning_rate", "data-dir", "fp16"}
    assert sites["fp16"].value == "False"
    assert "type=int" in sites["batch_size"].reasons


def test_detectors_can_be_switched_off() -> None:
    code = """
    import argparse
    def train(lr=0.1):
        pass
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", default=3)
    """
    off = Detect(function_args=False, argparse=False)
    assert {s.name for s in run_engine(code, off).analysis.sites} == set()
    assert {s.name for s in run_engine(code).analysis.sites} == {"lr", "epochs"}


def test_call_keywords_are_named_after_the_callee_and_numbered_when_repeated() -> None:
    code = """
    import torch.nn as nn, torch.optim as optim
    a = optim.SGD([], lr=0.1)
    b = optim.SGD([], lr=0.01)
    conv = nn.Conv2d(3, 8, kernel_size=3)
    """
    assert _accepted(code) == {"SGD.lr", "SGD_2.lr"}


def test_dict_bundle_is_one_site_and_a_dict_of_copies_is_not() -> None:
    code = """
    params = {"max_depth": 6, "eta": 0.3, "objective": "binary:logistic"}
    model_args = dict(n_layer=n_layer, n_head=n_head, bias=bias)
    """
    result = run_engine(code).analysis
    assert [s.name for s in result.sites] == ["params"]
    assert "max_depth" in result.sites[0].reasons[0]


def test_json_loads_count_only_as_configuration() -> None:
    code = """
    import json
    with open("data.json") as f:
        records = json.load(f)
    with open("train_config.json") as f:
        config = json.load(f)
    """
    assert _accepted(code) == {"config"}


def test_tokens() -> None:
    assert tokens("maxLearningRate2") == {"max", "learning", "rate2", "rate"}
    assert tokens("n_embd") == {"n", "embd"}


def test_classify_is_pure_and_explains_itself() -> None:
    verdict = classify(Candidate("learning_rate", number=3e-4, scientific=True))
    assert verdict.accepted and verdict.score == 1.0
    assert "name used for hyperparameters" in verdict.reasons
    rejected = classify(Candidate("device", shape="string", text="cuda"))
    assert not rejected.accepted and rejected.rejected_by == "system"


def test_every_rule_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "detection.md").read_text()
    assert [rule.code for rule in RULES if f"`{rule.code}`" not in doc] == []
