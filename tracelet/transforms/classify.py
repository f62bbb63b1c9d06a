"""Decide whether a name is a hyperparameter: pure, table-driven, explainable.

`sites.py` describes each candidate (its name, the shape of its value, where it
stands) as a `Candidate`; `classify` runs the rule table over it and returns a
`Verdict` with a score and the reasons. Exclusion rules reject outright;
evidence rules add to a score that must reach `THRESHOLD`.

Every rule carries small `hits` / `misses` examples, as Fixit's lint rules do:
one-statement snippets that the tests run through the whole detector. An
exclusion *hits* a snippet it rejects; an evidence rule *hits* a snippet it
supports and that is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

THRESHOLD = 0.5

# Kinds of sites (see docs/detection.md).
ASSIGN = "assign"
FUNC_ARG = "func_arg"
CLASS_ATTR = "class_attr"
ARGPARSE = "argparse"
CONFIG_LOAD = "config_load"
CALL_KWARG = "call_kwarg"
KINDS = (ASSIGN, FUNC_ARG, CLASS_ATTR, ARGPARSE, CONFIG_LOAD, CALL_KWARG)

# Shapes of values, as `sites.value_shape` reads them from the syntax tree.
NUMBER = "number"  # 3e-4, -1, 2**10, int(1e6)
BOOL = "bool"
STRING = "string"
NONE = "none"
SCALARS = "scalars"  # a list/tuple/set of scalars: [256, 128], (0.9, 0.999)
DICT = "dict"  # a literal mapping
EMPTY = "empty"  # [], {}, (), set(): an accumulator
DERIVED = "derived"  # arithmetic over names and constants: int(0.1 * max_iters)
ALIAS = "alias"  # a read of another object: args.lr, cfg["lr"], other_name
OBJECT = "object"  # anything else: a constructor call, a lambda, a comprehension
LITERAL_SHAPES = frozenset({NUMBER, BOOL, STRING, NONE, SCALARS, DICT})


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the classifier knows about one name: nothing but static facts."""

    name: str
    kind: str = ASSIGN
    shape: str = NUMBER
    number: float | None = None  # the value, when it is a numeric constant
    text: str | None = None  # the value, when it is a string constant
    scientific: bool = False  # written like 3e-4
    length: int = 0  # items of a container value
    scope: str = "module"  # module | function | class
    loop_target: bool = False
    config_class: bool = False  # a field of a dataclass / pydantic / `class Config`
    callee: str = ""  # for call_kwarg: the called name (Adam, DataLoader, train)


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: bool
    score: float
    reasons: tuple[str, ...]
    rejected_by: str = ""  # the exclusion rule's code, when one fired


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    reason: str
    test: Callable[[Candidate], bool]
    weight: float | None = None  # None: an exclusion
    hits: tuple[str, ...] = ()
    misses: tuple[str, ...] = ()
    kinds: frozenset[str] = field(default_factory=lambda: frozenset(KINDS))


# --- vocabularies -------------------------------------------------------------

# Name tokens that on their own say "hyperparameter".
STRONG_TOKENS = frozenset(
    """
    lr learning rate rates epochs batch batches bs dropout decay momentum nesterov
    beta beta1 beta2 betas eps epsilon alpha gamma lambda lambd lam weight weights
    warmup layers layer heads hidden dim dims embd embed embedding emb units channels
    kernel stride depth width steps iters iterations rounds estimators leaves patience
    threshold temperature clip grad norm seed ratio factor penalty reg regularization l1 l2
    tol margin smoothing accumulation accum optimizer optim scheduler sched activation
    criterion vocab neighbors components subsample colsample bytree bylevel eta booster
    objective boost boosting bins child leaf lora precision fp16 bf16 amp
    arch architecture backbone pretrained freeze init initializer pooling attention attn
    mlp ffn latent noise sigma tau coef solver degree bootstrap mixup cutmix augment
    augmentation crop patch top beam beams folds fold gradient shrinkage
    """.split()
)
# Tokens that help but need support (a config block, a prefix, a typical value).
WEAK_TOKENS = frozenset(
    """
    size length len max min num block context seq features classes dataset model loss
    interval every freq frequency iter epoch samples train eval val test warm capacity dtype
    scale schedule mode type strategy fraction prob probability split p k n c
    """.split()
)
# Whole names that are hyperparameters though their words are not.
STRONG_NAMES = frozenset(
    "t_max t_0 t_mult eta_min c random_state k_folds n_splits test_size val_size valid_size "
    "train_size validation_split val_split test_split validation_fraction cv eval_metric "
    "tree_method grow_policy step_size lr_scheduler_type".split()
)
FLAG_PREFIXES = ("use_", "enable_", "disable_", "do_", "with_", "no_", "apply_", "allow_")
COUNT_PREFIXES = ("num_", "n_", "max_", "min_", "total_", "nb_")

# Settings of the machine, not of the experiment.
SYSTEM_NAMES = frozenset(
    """
    device devices cuda gpu gpus gpu_id gpu_ids cpu cpus use_cuda no_cuda use_gpu n_gpu
    num_gpus ngpu rank local_rank global_rank world_size ddp_world_size node_rank
    dist_backend dist_url backend master_addr master_port host hostname port ip address
    num_workers workers n_jobs nthread nthreads num_threads threads pin_memory verbose
    verbosity debug log_level logging_level distributed ddp multiprocessing_context
    """.split()
)
SYSTEM_VALUES = re.compile(r"^(cuda(:\d+)?|cpu|mps|xla|tpu|nccl|gloo|mpi|auto_device)$")

# Where things live on disk or on the network.
PATH_TOKENS = frozenset(
    "dir dirs path paths file files filename filenames fname folder root dirname filepath "
    "url uri urls directory ckpt_path logdir".split()
)
PATH_VALUE = re.compile(
    r"^(\.{0,2}/|~|[A-Za-z]:\\|https?://|s3://|gs://)|[/\\]|"
    r"\.(pt|pth|ckpt|bin|safetensors|pkl|pickle|joblib|npz|npy|h5|hdf5|csv|tsv|json|jsonl|"
    r"yaml|yml|toml|txt|log|png|jpg|parquet|onnx|zip|tar|gz)$",
    re.IGNORECASE,
)

# State that training updates: counters, accumulators, bests, timers.
STATE_NAMES = frozenset(
    """
    i j k n x y z idx index count counter total correct step global_step iter_num
    iteration it epoch done stop running start end elapsed t t0 t1 tic toc start_time
    end_time history results metrics losses accs accuracies scores preds outputs
    best loss acc accuracy score
    """.split()
)
STATE_TOKENS = frozenset(
    "running best avg cur current prev last count counter correct bad wait seen ct cnt "
    "local".split()
)
# Names of switches that describe a tensor layout or an autograd detail, not the experiment.
NOT_SETTINGS = frozenset(
    "batch_first requires_grad inplace keepdim dim axis align_corners return_indices "
    "bias_init".split()
)

# String values that are recognisably a choice of method.
KNOWN_CHOICES = frozenset(
    """
    adam adamw sgd rmsprop adagrad adadelta adamax nadam radam lamb lion lbfgs
    relu gelu tanh sigmoid silu swish elu selu leaky_relu mish softmax softplus
    cosine linear step plateau exponential constant onecycle one_cycle polynomial cyclic
    warmup_cosine inverse_sqrt mse mae cross_entropy ce bce nll huber hinge log_loss
    smooth_l1 kl focal gini entropy log2 sqrt balanced liblinear saga sag newton-cg
    newton-cholesky l1 l2 elasticnet gbtree gblinear dart hist approx exact logloss auc
    rmse mlogloss merror error binary:logistic multi:softmax multi:softprob
    reg:squarederror reg:logistic rank:pairwise fp16 bf16 fp32 float16 bfloat16 float32
    16-mixed bf16-mixed 32-true mixed xavier kaiming he orthogonal normal uniform
    mean max sum cls attention layernorm batchnorm rbf poly uniform distance
    scratch resume
    """.split()
)
MODEL_NAME = re.compile(
    r"^([\w-]+/)?(resnet|resnext|wide_resnet|vgg|densenet|efficientnet|mobilenet|vit|deit|swin|"
    r"convnext|bert|roberta|distilbert|albert|gpt|t5|bart|llama|mistral|opt|bloom|clip|unet)"
    r"[\w.-]*$",
    re.IGNORECASE,
)
# Callees whose literal keyword arguments are settings though their name is lower case.
KWARG_CALLEES = frozenset(
    "train cv fit train_test_split cross_val_score cross_validate fit_transform "
    "learning_curve compile".split()
)
# Layer primitives: their keywords describe one layer, not the experiment.
LAYER_CALLEE = re.compile(
    r"^(Conv\w*|ConvTranspose\w*|\w*Pool\w*|\w*Norm\w*|Linear|Bilinear|Dropout\w*|"
    r"Upsample|ZeroPad\w*|ReflectionPad\w*|Flatten|Unflatten|Identity|Embedding)$"
)


# --- name helpers -------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@lru_cache(maxsize=4096)
def tokens(name: str) -> frozenset[str]:
    """`maxLearningRate2` -> {max, learning, rate2, rate}: words, with digits stripped too."""
    words = [w for w in _CAMEL.sub("_", name).lower().split("_") if w]
    return frozenset(words) | {w.rstrip("0123456789") for w in words if w[-1:].isdigit()}


def _leaf(c: Candidate) -> str:
    """The last dotted part: `Adam.lr` -> `lr`, `params.max_depth` -> `max_depth`."""
    return c.name.rsplit(".", 1)[-1]


def _strong(c: Candidate) -> bool:
    leaf = _leaf(c)
    return leaf.lower() in STRONG_NAMES or bool(tokens(leaf) & STRONG_TOKENS)


def _weak(c: Candidate) -> bool:
    return bool(tokens(_leaf(c)) & WEAK_TOKENS)


def _prefixed(c: Candidate, prefixes: tuple[str, ...]) -> bool:
    return _leaf(c).lower().startswith(prefixes)


def _is_upper(c: Candidate) -> bool:
    leaf = _leaf(c)
    return leaf.isupper() and any(ch.isalpha() for ch in leaf)


def _has_name_evidence(c: Candidate) -> bool:
    return _strong(c) or _prefixed(c, COUNT_PREFIXES + FLAG_PREFIXES)


# --- exclusion tests ------------------------------------------------------------


def _private(c: Candidate) -> bool:
    return _leaf(c).startswith("_")


def _not_a_setting(c: Candidate) -> bool:
    return _leaf(c).lower() in NOT_SETTINGS


def _computed(c: Candidate) -> bool:
    """Arithmetic inside a function is a computation, not a setting."""
    return c.shape == DERIVED and c.scope == "function" and c.kind == ASSIGN


def _system(c: Candidate) -> bool:
    leaf = _leaf(c).lower()
    if leaf in SYSTEM_NAMES:
        return True
    return c.shape == STRING and bool(c.text) and bool(SYSTEM_VALUES.match(c.text.lower()))


def _path(c: Candidate) -> bool:
    words = tokens(_leaf(c))
    if words & PATH_TOKENS and not words & STRONG_TOKENS - {"init"}:
        return True
    return c.shape == STRING and bool(c.text) and bool(PATH_VALUE.search(c.text))


def _temporary(c: Candidate) -> bool:
    return bool(tokens(_leaf(c)) & {"tmp", "temp", "dummy", "scratchpad"})


def _state(c: Candidate) -> bool:
    leaf = _leaf(c).lower()
    if c.kind not in (ASSIGN,):
        return False
    if leaf in STATE_NAMES:
        return c.shape in (NUMBER, NONE, EMPTY, SCALARS) and not c.config_class
    if tokens(leaf) & STATE_TOKENS:
        return c.shape in (NUMBER, NONE, EMPTY)
    return False


def _long_container(c: Candidate) -> bool:
    return c.shape in (SCALARS, DICT) and c.length > 16


def _placeholder(c: Candidate) -> bool:
    """`x = None` outside a signature or a config class says nothing."""
    return c.shape == NONE and c.kind == ASSIGN and not _has_name_evidence(c)


def _layer_keyword(c: Candidate) -> bool:
    return c.kind == CALL_KWARG and bool(LAYER_CALLEE.match(c.callee))


def _non_setting_callee(c: Candidate) -> bool:
    """Keywords of lower-case calls are arguments of an operation, not settings."""
    if c.kind != CALL_KWARG:
        return False
    return c.callee[:1].islower() and c.callee not in KWARG_CALLEES


# --- evidence tests -------------------------------------------------------------


def _typical_value(c: Candidate) -> bool:
    words = tokens(_leaf(c))
    v = c.number
    if v is None or c.shape != NUMBER:
        return False
    if words & {"lr", "learning", "rate", "eta", "decay", "eps", "epsilon", "tol"}:
        return 0 < v <= 1
    if words & {"dropout", "ratio", "fraction", "prob", "p", "momentum", "beta", "smoothing"}:
        return 0 <= v <= 1
    if words & {"size", "dim", "hidden", "batch", "width", "channels", "units", "embd"}:
        return v >= 1 and float(v).is_integer() and (int(v) & (int(v) - 1)) == 0
    return False


def _known_choice(c: Candidate) -> bool:
    if c.shape != STRING or not c.text:
        return False
    text = c.text.lower()
    return text in KNOWN_CHOICES or bool(MODEL_NAME.match(text))


def _config_block(c: Candidate) -> bool:
    """A lower-case module-level constant: the config block at the top of a script."""
    return (
        c.kind == ASSIGN
        and c.scope == "module"
        and c.shape in LITERAL_SHAPES - {NONE}
        and not _is_upper(c)
    )


def _boolean_flag(c: Candidate) -> bool:
    return c.shape == BOOL and (c.scope == "module" or _prefixed(c, FLAG_PREFIXES))


RULES: tuple[Rule, ...] = (
    # Exclusions, in the order they are checked.
    Rule(
        "private",
        "private name (leading underscore)",
        _private,
        hits=("_private_var = 'test'", "_lr = 0.1"),
        misses=("lr = 0.1",),
    ),
    Rule(
        "loop_variable",
        "loop variable",
        lambda c: c.loop_target,
        hits=("for i in range(10): pass", "for lr in [0.1, 0.01]: pass"),
        misses=("learning_rate = 0.001",),
    ),
    Rule(
        "temporary",
        "temporary variable",
        _temporary,
        hits=("tmp_value = 123", "temp_lr = 0.1"),
        misses=("temperature = 2.0",),
    ),
    Rule(
        "system",
        "device or system setting, not an experiment setting",
        _system,
        hits=("device = 'cuda'", "num_workers = 4", "backend = 'nccl'", "mode = 'cuda:0'"),
        misses=("batch_size = 64", "lora_rank = 8"),
    ),
    Rule(
        "path",
        "a path, file name or URL",
        _path,
        hits=("out_dir = 'out'", "data_path = 'data.csv'", "weights = 'model.pt'"),
        misses=("dataset = 'cifar10'", "init_from = 'scratch'"),
    ),
    Rule(
        "state",
        "a counter or training state, not a setting",
        _state,
        hits=("iter_num = 0", "best_val_loss = 1e9", "running_loss = 0.0", "epoch = 0"),
        misses=("epochs = 10", "step_size = 30", "max_steps = 1000"),
    ),
    Rule(
        "not_a_setting",
        "a tensor-layout or autograd switch, not an experiment setting",
        _not_a_setting,
        hits=("rnn = nn.LSTM(8, 16, batch_first=True)", "requires_grad = False"),
        misses=("use_bias = False",),
    ),
    Rule(
        "computed",
        "computed inside a function",
        _computed,
        hits=("def get_lr(it):\n    decay_ratio = (it - 10) / 100",),
        misses=("warmup_iters = int(0.1 * 1000)",),
    ),
    Rule(
        "complex_object",
        "a complex object (constructor call, lambda, comprehension)",
        lambda c: c.shape == OBJECT,
        hits=("model = nn.Sequential()", "lr = get_lr()", "criterion = nn.CrossEntropyLoss()"),
        misses=("hidden_layers = [256, 128, 64]",),
    ),
    Rule(
        "alias",
        "a copy of another value, captured where it is defined",
        lambda c: c.shape == ALIAS,
        kinds=frozenset({ASSIGN, CLASS_ATTR, CALL_KWARG}),
        hits=("lr = args.lr", "batch_size = cfg['batch_size']", "epochs = num_epochs"),
        misses=("warmup_iters = int(0.1 * max_iters)",),
    ),
    Rule(
        "accumulator",
        "an empty container filled during training",
        lambda c: c.shape == EMPTY,
        hits=("train_losses = []", "val_metrics = {}"),
        misses=("hidden_sizes = [64, 64]",),
    ),
    Rule(
        "data",
        "a long literal is data, not a setting",
        _long_container,
        hits=("mean_sizes = [" + ", ".join(["1"] * 20) + "]",),
        misses=("betas = (0.9, 0.999)",),
    ),
    Rule(
        "placeholder",
        "None with nothing in the name to say it is a setting",
        _placeholder,
        hits=("model = None", "writer = None"),
        misses=("max_grad_norm = None",),
    ),
    Rule(
        "layer_keyword",
        "a keyword of a layer primitive describes one layer",
        _layer_keyword,
        hits=("conv = nn.Conv2d(3, 16, kernel_size=3)",),
        misses=("opt = optim.SGD(params, lr=0.1)",),
    ),
    Rule(
        "operation_keyword",
        "a keyword of an operation call (lower-case callee), not a constructor",
        _non_setting_callee,
        hits=("y = F.interpolate(x, scale_factor=2)", "z = F.dropout(x, p=0.5)"),
        misses=("xgb.train(params, dtrain, num_boost_round=100)",),
    ),
    # Evidence.
    Rule(
        "argparse_option",
        "command-line option",
        lambda c: c.kind == ARGPARSE,
        weight=1.0,
        hits=("parser.add_argument('--lr', type=float, default=0.1)",),
    ),
    Rule(
        "config_file",
        "loaded from a configuration file",
        lambda c: c.kind == CONFIG_LOAD,
        weight=1.0,
        hits=("cfg = yaml.safe_load(f)",),
    ),
    Rule(
        "config_class",
        "field of a configuration class",
        lambda c: c.config_class,
        weight=0.6,
        hits=("@dataclass\nclass TrainConfig:\n    warmup: int = 5",),
    ),
    Rule(
        "ml_name",
        "name used for hyperparameters",
        _strong,
        weight=0.6,
        hits=("learning_rate = 0.001", "weight_decay = 1e-4", "n_estimators = 200"),
        misses=("answer = 42",),
    ),
    Rule(
        "count_prefix",
        "num_/n_/max_/min_ prefix",
        lambda c: _prefixed(c, COUNT_PREFIXES),
        weight=0.5,
        hits=("num_classes = 10", "max_len = 512"),
        misses=("classes = 10",),
    ),
    Rule(
        "flag_prefix",
        "use_/enable_/… boolean flag",
        lambda c: _prefixed(c, FLAG_PREFIXES),
        weight=0.5,
        hits=("use_layer_norm = True", "enable_dropout = False"),
    ),
    Rule(
        "ml_word",
        "word often part of a hyperparameter name",
        _weak,
        weight=0.2,
        hits=("eval_interval = 2000",),
    ),
    Rule(
        "typical_value",
        "value in the usual range for this name",
        _typical_value,
        weight=0.2,
        hits=("dropout = 0.3",),
    ),
    Rule(
        "known_choice",
        "value names a known method (optimizer, activation, schedule, loss…)",
        _known_choice,
        weight=0.5,
        hits=("act = 'gelu'", "arch = 'resnet50'"),
        misses=("greeting = 'hello'",),
    ),
    Rule(
        "scientific",
        "written in scientific notation",
        lambda c: c.scientific,
        weight=0.3,
        hits=("eps_value = 1e-8",),
    ),
    Rule(
        "config_block",
        "constant in the script's top-level config block",
        _config_block,
        weight=0.4,
        kinds=frozenset({ASSIGN}),
        hits=("dataset = 'openwebtext'",),
        misses=("def f():\n    greeting = 'hello'",),
    ),
    Rule(
        "boolean_flag",
        "boolean switch",
        _boolean_flag,
        weight=0.2,
        hits=("eval_only = False",),
    ),
)

EXCLUSIONS = tuple(r for r in RULES if r.weight is None)
EVIDENCE = tuple(r for r in RULES if r.weight is not None)
RULES_BY_CODE = {r.code: r for r in RULES}


# Command-line options and loaded config files declare themselves as settings:
# no exclusion applies to them.
DECLARED = frozenset({ARGPARSE, CONFIG_LOAD})


def classify(c: Candidate) -> Verdict:
    """Run the exclusions, then add up the evidence."""
    for rule in () if c.kind in DECLARED else EXCLUSIONS:
        if c.kind in rule.kinds and rule.test(c):
            return Verdict(False, 0.0, (rule.reason,), rule.code)
    score = 0.0
    reasons: list[str] = []
    for rule in EVIDENCE:
        if c.kind in rule.kinds and rule.test(c):
            score += rule.weight or 0.0
            reasons.append(rule.reason)
    score = round(min(score, 1.0), 2)
    if c.shape == DERIVED and not _strong(c) and c.kind == ASSIGN:
        return Verdict(False, score, ("derived value without a hyperparameter name",), "derived")
    if score >= THRESHOLD:
        return Verdict(True, score, tuple(reasons))
    return Verdict(False, score, (*reasons, "not enough evidence"), "weak")
