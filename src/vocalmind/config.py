"""Experiment configuration: YAML data, validated on load.

A config names a corpus (or a manifest), a task (which label), optional segmentation, a
feature set (for feature models), a model, a protocol and evaluation settings. Unknown keys
and wrong types are rejected with a message naming the key, e.g.::

    config error in emodb.yaml: model.parms: unknown key (did you mean 'params'?)

``--set key.path=value`` overrides are applied to the raw YAML before validation, so they
are validated exactly like the file.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vocalmind.errors import ConfigError
from vocalmind.features.extract import PreprocessSettings

#: the one preprocessing schema (features.extract's): normalize, peak_db, target_lufs,
#: denoise, vad_trim, keep_speech; ``keep_speech`` without a detector is refused there
PreprocessConfig = PreprocessSettings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CorpusConfig(_Strict):
    """Where the recordings and labels come from: a corpus reader or a manifest file."""

    name: str | None = Field(None, description="corpus reader name, e.g. emodb, emu, daicwoz")
    root: str | None = Field(None, description="corpus folder as its authors distribute it")
    manifest: str | None = Field(None, description="a manifest CSV/Parquet instead of a reader")
    options: dict[str, Any] = Field(default_factory=dict, description="reader options")

    @model_validator(mode="after")
    def _one_source(self) -> CorpusConfig:
        if self.manifest is None and (self.name is None or self.root is None):
            raise ValueError("give corpus.manifest, or corpus.name and corpus.root "
                             "(e.g. --set corpus.root=../shared/data/emodb)")
        return self


class TaskConfig(_Strict):
    """What is predicted. A list of labels trains one multi-task model (deep families): the
    first label is the primary one; a row missing a label masks that head's loss."""

    label: str | list[str] = Field(
        ..., description="manifest column(s), e.g. emotion, phq9, [phq9_band, gad7_band]")
    type: Literal["classification", "regression"] | None = Field(
        None, description="inferred from the model when omitted")
    classes: list[str] | None = Field(None, description="keep only these classes")
    drop_unlabelled: bool = Field(True, description="drop rows without the label")

    @property
    def labels(self) -> list[str]:
        """All labels, primary first."""
        return [self.label] if isinstance(self.label, str) else list(self.label)

    @property
    def primary(self) -> str:
        return self.labels[0]

    @model_validator(mode="after")
    def _labels(self) -> TaskConfig:
        if not self.labels or len(set(self.labels)) != len(self.labels):
            raise ValueError("task.label must name one label or a list of distinct labels")
        return self


class SegmentationConfig(_Strict):
    """Fixed-length segmentation before features/models; predictions aggregate back."""

    length_s: float | None = Field(None, gt=0, description="segment length; null = whole files")
    hop_s: float | None = Field(None, gt=0, description="hop; null = length (no overlap)")


class FeaturesConfig(_Strict):
    """Feature extraction for feature-based models (ignored by waveform/mel models)."""

    set: str = Field("egemaps", description="feature set name (vocalmind features list)")
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="feature-set parameters, e.g. {n_mels: 64}")
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    speaker_normalization: bool = Field(
        False, description="standardise each speaker's features on their own recordings")
    cache_dir: str | None = Field(".cache/features", description="null disables the cache")
    jobs: int = Field(2, ge=1, description="extraction worker processes")
    max_failure_fraction: float = Field(
        0.05, ge=0, le=1, description="largest fraction of recordings that may fail "
        "extraction (listed in failures.csv) before the run stops")


class SelectionConfig(_Strict):
    """Feature selection fitted inside each training fold (document 002's partial
    correlation with the score, controlling for covariates)."""

    method: Literal["partial_correlation"] = Field("partial_correlation",
                                                   description="selection method")
    alpha: float = Field(0.01, gt=0, lt=1, description="significance level a feature must pass")
    fdr: bool = Field(False, description="Benjamini-Hochberg correction of the p-values")
    covariates: list[str] = Field(default_factory=lambda: ["gender", "age"],
                                  description="manifest columns partialled out")
    mode: Literal["drop", "zero"] = Field(
        "drop", description="drop unselected features, or set them to zero")
    correlation: Literal["pearson", "spearman"] = Field("pearson",
                                                        description="correlation measure")
    fallback_k: int = Field(5, ge=1, description="features kept when none passes alpha")


class TuneConfig(_Strict):
    """Nested hyperparameter tuning inside each training fold, grouped by subject."""

    grid: dict[str, list[Any]] = Field(default_factory=dict,
                                       description="model params to search, e.g. {C: [0.1, 1]}")
    inner_splits: int = Field(3, ge=2, description="inner subject-grouped folds (at most the "
                              "training subjects of a fold)")
    scoring: str | None = Field(None, description="sklearn scorer; default by task")


class PretrainConfig(_Strict):
    """Transfer learning inside each training fold: pre-train the same family on another
    label of the training subjects, then swap the head and fine-tune on the task."""

    label: str = Field(..., description="label to pre-train on, e.g. phq9_band")
    epochs: int | None = Field(None, ge=1, description="default: model.training.epochs")
    freeze_layers: list[str] = Field(default_factory=list,
                                     description="parameter-name globs frozen when fine-tuning")


class SearchConfig(_Strict):
    """ASHA hyperparameter search for deep models, nested inside each training fold: trials
    are scored on inner folds grouped by subject, and every trial and pruning decision is
    recorded under ``<run>/search/fold_<k>/``."""

    space: dict[str, dict[str, Any]] = Field(
        ..., description="param -> {type: float|int|categorical|loguniform, low, high, choices}")
    n_trials: int = Field(8, ge=1, description="trials sampled from the space")
    policy: dict[str, Any] = Field(
        default_factory=dict,
        description="ASHA: min_resource, reduction_factor, max_resource (epochs)")
    sampler: Literal["random", "tpe"] = Field("random", description="how trials are sampled")
    inner_splits: int = Field(3, ge=2, description="inner subject-grouped folds")


class ModelConfig(_Strict):
    """The model: a classical pipeline, the searched mlp, or a deep family (see the model
    table below)."""

    name: str = Field(..., description="svm, logreg, rf, svr, ridge, mlp, melcnn, cnn_lstm, ...")
    params: dict[str, Any] = Field(default_factory=dict, description="the model's parameters "
                                   "(defaults in the model table; deep families: model and "
                                   "data settings)")
    tune: TuneConfig | None = None
    training: dict[str, Any] = Field(
        default_factory=dict,
        description="deep models: epochs, batch_size, lr, patience, init_from, freeze_layers ...")
    pretrain: PretrainConfig | None = None
    search: SearchConfig | None = None


class ProtocolConfig(_Strict):
    """How recordings are split into outer training and test folds."""

    name: Literal["loso", "group_kfold", "loo_subjects", "predefined", "holdout",
                  "stratified_kfold", "fold_file"] = Field(
        "loso", description="evaluation protocol (parameters: see the protocol table)")
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="the protocol's parameters, e.g. {n_splits: 5}")
    repeats: int = Field(
        1, ge=1, description="repeat a seeded protocol (group_kfold, stratified_kfold, "
        "holdout) with seeds seed, seed+1, ...; the out-of-fold predictions of all repeats "
        "are pooled (each unit scored once per repeat, subjects resampled together)")

    @model_validator(mode="after")
    def _repeatable(self) -> ProtocolConfig:
        if self.repeats > 1 and self.name not in REPEATABLE_PROTOCOLS:
            raise ValueError(f"protocol.repeats: {self.name} gives the same folds with every "
                             f"seed; repeats need one of {list(REPEATABLE_PROTOCOLS)}")
        if self.repeats > 1 and "seed" in self.params:
            raise ValueError("protocol.repeats sets the seeds (seed, seed+1, ...); remove "
                             "protocol.params.seed")
        return self


#: protocols whose folds change with their seed (so repeats differ)
REPEATABLE_PROTOCOLS = ("group_kfold", "stratified_kfold", "holdout")


class EvaluationConfig(_Strict):
    """Metrics, intervals and what the report adds."""

    n_boot: int = Field(1000, ge=0, description="subject-bootstrap resamples (0: no intervals)")
    ci: float = Field(0.95, gt=0, lt=1, description="interval coverage")
    level: Literal["segment", "recording", "subject"] = Field(
        "recording", description="unit the headline metrics are computed on")
    importance_top_k: int | None = Field(
        None, ge=1, description="feature models: permutation importance of the evaluated "
        "model on each held-out fold (scikit-learn permutation_importance), pooled over "
        "folds; importance.csv and a chart of the top k in the report")
    importance_repeats: int = Field(5, ge=1, description="shuffles per feature and fold")
    positive_class: str | None = Field(
        None, description="binary tasks: the class whose F1, sensitivity and specificity "
        "(with intervals) are reported as `positive`; default: 1/true/yes when the "
        "labels look like that, else none")


class ExperimentConfig(_Strict):
    """A whole experiment. See ``examples/*.yaml``."""

    name: str = Field("experiment", description="run name (default run folder runs/NAME-TIME)")
    seed: int = Field(0, description="seed of models, inner folds, bootstrap and repeats")
    jobs: int = Field(2, ge=1, description="parallel outer folds (deep families: processes "
                      "of the training's n_threads torch threads each, the final model trained "
                      "among them; one at a time on a GPU)")
    corpus: CorpusConfig
    task: TaskConfig
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    selection: SelectionConfig | None = None
    model: ModelConfig
    protocol: ProtocolConfig = Field(default_factory=ProtocolConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    quality: dict[str, Any] = Field(
        default_factory=dict,
        description="quality gates for assessment (vocalmind.audio.quality.QualityGates "
        "fields, e.g. {min_snr_db: 10}); empty = the documented defaults")


_BLOCK_HINTS = {
    "tune": "model.tune is a grid search for classical models (svm, logreg, ...)",
    "training": "model.training holds deep-model training settings (epochs, lr ...)",
    "pretrain": "model.pretrain is transfer learning for deep families",
    "search": "model.search is the ASHA search of deep families; classical models use "
              "model.tune, the mlp searches its own architecture (model.params)",
}


def _training_settings() -> list[Any]:
    """The ``model.training`` keys: :class:`~vocalmind.training.estimator.DeepEstimator`'s
    keyword settings (``inspect.Parameter``), all but what the config gives elsewhere."""
    import inspect

    from vocalmind.training.estimator import DeepEstimator

    return [p for p in inspect.signature(DeepEstimator.__init__).parameters.values()
            if p.name not in ("self", "family", "task", "params", "seed")
            and p.default is not p.empty]


#: deep families whose network loads pretrained weights when built: their constructor
#: arguments are checked when the first model is built, not at load
_BUILT_WITH_WEIGHTS = frozenset({"ssl_attention"})


def _deep_param_problems(family: str, params: dict[str, Any]) -> list[str]:
    """Values of a deep family's ``model.params`` that its data pipeline or network
    rejects, found at load instead of when the first fold builds its model.

    The data settings go through :func:`~vocalmind.training.data.split_params`; the network
    is built once with a two-class head (a few ms on CPU; its input width is the
    configured or default ``n_mels``, which no constructor checks against the other
    arguments). Families in :data:`_BUILT_WITH_WEIGHTS` are not built here.
    """
    from vocalmind.models import build_model
    from vocalmind.training.data import split_params

    try:
        model_params, _ = split_params(family, params)
        if family not in _BUILT_WITH_WEIGHTS:
            build_model(family, heads={"check": 2}, **model_params)
    except ConfigError as e:
        return [f"model.params: {e}"]
    except RuntimeError as e:  # torch's own checks, e.g. a negative layer width
        return [f"model.params: {family!r}: {str(e).splitlines()[0]}"]
    return []


def _close(key: str, allowed: set[str]) -> str:
    same = [a for a in sorted(allowed) if a.lower() == key.lower()]
    close = same or difflib.get_close_matches(key, sorted(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def semantic_problems(cfg: ExperimentConfig) -> list[str]:
    """Problems a schema cannot see: each ``"key.path: reason; hint"``.

    Checks the model family (by ``model.name``) and the blocks it may use, its parameters,
    the tuning grid, the search space and policy, deep training settings, the protocol's
    parameters, the feature set and its parameters, selection with a deep model, and the
    quality gates.
    """
    out: list[str] = []
    m = cfg.model
    from vocalmind.models import MODEL_FAMILIES

    family = MODEL_FAMILIES.get(m.name)
    if family is None:
        known = sorted(MODEL_FAMILIES)
        return [f"model.name: unknown model {m.name!r}{_close(m.name, set(known))}; "
                f"known: {', '.join(known)} (see `vocalmind models list`)"]
    kind = family.kind
    used = {"tune": m.tune is not None, "training": bool(m.training),
            "pretrain": m.pretrain is not None, "search": m.search is not None}
    for block, on in used.items():
        if on and block not in family.blocks:
            out.append(f"model.{block}: not used by model {m.name!r} ({kind}); "
                       f"{_BLOCK_HINTS[block]}: remove it")
    if kind in ("classical", "mlp"):
        allowed = family.param_names()
        for k in m.params:
            if k not in allowed:
                out.append(f"model.params.{k}: {m.name!r} has no parameter {k!r}"
                           f"{_close(k, allowed)}; it takes {', '.join(sorted(allowed))}")
        if kind == "mlp" and not any(k not in allowed for k in m.params):
            from vocalmind.models.mlp import MLPSearch

            try:  # the architecture search space and its values, before hours of search
                MLPSearch(**m.params)._space()
            except (ConfigError, TypeError, ValueError) as e:
                out.append(f"model.params.space: {e}")
        if m.tune is not None:
            for k in m.tune.grid:
                if k not in allowed:
                    out.append(f"model.tune.grid.{k}: {m.name!r} has no parameter {k!r}"
                               f"{_close(k, allowed)}")
        if cfg.features.set:
            from vocalmind.features.base import available_feature_sets

            sets = available_feature_sets()
            if cfg.features.set not in sets:
                out.append(f"features.set: unknown feature set {cfg.features.set!r}"
                           f"{_close(cfg.features.set, set(sets))}; available: {', '.join(sets)}")
            else:
                from vocalmind.features.extract import feature_set_from_spec

                try:
                    feature_set_from_spec(cfg.features.set, cfg.features.params)
                except ConfigError as e:
                    out.append(f"features.params: {e}")
    if kind == "deep":


        allowed = {p.name for p in _training_settings()}
        for k in m.training:
            if k not in allowed:
                out.append(f"model.training.{k}: unknown training setting{_close(k, allowed)}; "
                           f"allowed: {', '.join(sorted(allowed))}")
        # model.params: the family's constructor arguments plus its data settings
        accepted = family.param_names()
        for k in m.params:
            if k not in accepted:
                out.append(f"model.params.{k}: {m.name!r} has no parameter {k!r}"
                           f"{_close(k, accepted)}; it takes {', '.join(sorted(accepted))}")
        if not out:
            out += _deep_param_problems(m.name, m.params)
        if m.search is not None:
            from vocalmind.training.search import AshaPolicy, SearchSpace

            for what, fn, val in (("space", SearchSpace.from_dict, m.search.space),
                                  ("policy", AshaPolicy.from_dict, m.search.policy)):
                try:
                    fn(val)
                except (ConfigError, TypeError, ValueError) as e:
                    out.append(f"model.search.{what}: {e}")
        if cfg.selection is not None:
            out.append("selection: feature selection applies to feature models, not the deep "
                       f"family {m.name!r}; remove it")
        if cfg.features.speaker_normalization:
            out.append("features.speaker_normalization: applies to feature models only")
    from vocalmind.evaluation.protocols import make_protocol

    try:
        make_protocol(cfg.protocol.name, **cfg.protocol.params)
    except (ConfigError, TypeError, ValueError) as e:
        out.append(f"protocol.params: {e}")
    from vocalmind.audio.quality import QualityGates

    try:
        QualityGates.from_dict(cfg.quality)
    except ConfigError as e:
        out.append(f"quality: {e}")
    return out


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides (values parsed as YAML) to a raw config dict.

    Examples
    --------
    >>> apply_overrides({"a": {"b": 1}}, ["a.b=2", "a.c=[1, 2]"])
    {'a': {'b': 2, 'c': [1, 2]}}
    """
    out = dict(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.path=value")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        node = out
        for p in parts[:-1]:
            child = node.get(p)
            node[p] = dict(child) if isinstance(child, dict) else {}
            node = node[p]
        node[parts[-1]] = yaml.safe_load(value) if value.strip() else None
    return out


def _format_error(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        if e["type"] == "extra_forbidden":
            parent = _model_at(ExperimentConfig, e["loc"][:-1])
            hint = ""
            if parent is not None:
                close = difflib.get_close_matches(str(e["loc"][-1]), parent.model_fields, n=1)
                allowed = ", ".join(parent.model_fields)
                hint = (f" (did you mean {close[0]!r}?)" if close else "") + f"; allowed: {allowed}"
            lines.append(f"{loc}: unknown key{hint}")
        else:
            lines.append(f"{loc or '(top level)'}: {e['msg']}")
    return f"config error in {source}:\n  " + "\n  ".join(lines)


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)),
                     None)
        if model is None:
            return None
    return model


#: Config keys that name files: a relative one in a YAML file is read from the file's folder.
PATH_KEYS = ("corpus.root", "corpus.manifest", "protocol.params.path")


def _relative_to(raw: Any, folder: Path) -> Any:
    """``raw`` (as read from a file in ``folder``) with relative :data:`PATH_KEYS` made
    absolute against ``folder``; ``--set`` overrides applied later stay relative to the
    current directory."""
    for key in PATH_KEYS if isinstance(raw, dict) else ():
        *parents, last = key.split(".")
        node: Any = raw
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        value = node.get(last) if isinstance(node, dict) else None
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            node[last] = str((folder.absolute() / Path(value).expanduser()).resolve())
    return raw


def load_config(path: str | Path | None = None, *, overrides: list[str] | None = None,
                raw: dict[str, Any] | None = None) -> ExperimentConfig:
    """Load, override and validate an experiment config.

    Parameters
    ----------
    path : YAML file (or None when ``raw`` is given)
    overrides : ``key.path=value`` strings, applied before validation
    raw : an already-parsed config dict

    Raises
    ------
    ConfigError
        Unreadable YAML, unknown keys (with the closest valid key), wrong types, and what
        :func:`semantic_problems` finds (an unknown model or feature set, a block the model
        family does not use, bad search space/protocol parameters ...), each with its key
        path and a hint.
    """
    source = str(path) if path is not None else "<dict>"
    if raw is None:
        if path is None:
            raise ConfigError("load_config needs a path or a raw dict")
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: no such config file")
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from None
        raw = _relative_to(raw, p.parent)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a config must be a mapping of keys, got {type(raw).__name__}")
    raw = apply_overrides(raw, overrides or [])
    try:
        cfg = ExperimentConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_error(e, source)) from None
    problems = semantic_problems(cfg)
    if problems:
        raise ConfigError(f"config error in {source}:\n  " + "\n  ".join(problems))
    return cfg


def config_to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """The resolved config as plain data (what the run folder stores)."""
    return cfg.model_dump(mode="json")


# --------------------------------------------------------------------------- reference page


def _doc_params(obj: Any, section: str = "Parameters") -> dict[str, str]:
    """``name -> text`` from a numpydoc section (``Parameters``, ``Attributes``) of ``obj``'s
    docstring."""
    import inspect
    import re

    doc = inspect.getdoc(obj) or ""
    lines = doc.splitlines()
    out: dict[str, str] = {}
    try:
        start = next(i for i, ln in enumerate(lines[:-1])
                     if ln.strip() == section and set(lines[i + 1].strip()) == {"-"})
    except StopIteration:
        return out
    current = None
    for ln in lines[start + 2:]:
        if not ln.strip():
            current = None
            continue
        m = re.match(r"^(\w+)(?:, \w+)* : (.*)$", ln)
        if m and not ln.startswith(" "):
            names = [n.strip() for n in ln.split(" : ", 1)[0].split(",")]
            current = names
            for n in names:
                out[n] = m.group(2).strip()
        elif ln.startswith(" ") and current:
            for n in current:
                out[n] = (out[n] + " " + ln.strip()).strip()
        elif not ln.startswith(" "):
            break  # the next section or prose after the parameters
    return out


def _md(text: str) -> str:
    """Docstring text as Markdown table text: Sphinx roles and double back-ticks become
    plain code spans, pipes are escaped."""
    import re

    text = re.sub(r":\w+:`~?([\w.]+)`", lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", text)
    return text.replace("``", "`").replace("|", "\\|")


def _flow(value: Any) -> str:
    """A value as a YAML flow literal, keys in their own order (independent of any YAML
    representer another module may have registered)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _type_text(annotation: Any) -> str:
    """A type annotation in words a YAML author reads (``one of: a, b``, ``list of str``)."""
    import types
    import typing

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return "one of: " + ", ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_type_text(a) for a in args if a is not type(None)]
        text = " or ".join(parts)
        return text + (" or null" if type(None) in args else "")
    if origin in (list, tuple):
        return f"list of {_type_text(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping {_type_text(args[0])} -> {_type_text(args[1])}" if args else "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    if annotation is Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def _constraints(info: Any) -> str:
    marks = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    out = []
    for meta in getattr(info, "metadata", []):
        for attr, sign in marks.items():
            value = getattr(meta, attr, None)
            if value is not None:
                out.append(f"{sign} {value}")
    return ", ".join(out)


def _default_text(info: Any) -> str:
    from pydantic_core import PydanticUndefined

    if info.is_required():
        return "**required**"
    value = info.default_factory() if info.default_factory is not None else info.default
    if value is PydanticUndefined:
        return "**required**"
    if isinstance(value, BaseModel):
        return "(section)"
    return f"`{_flow(value)}`"


def _section_models(annotation: Any) -> type[BaseModel] | None:
    import typing

    for a in (annotation, *typing.get_args(annotation)):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def _field_rows(model: type[BaseModel], prefix: str, rows: list[str],
                sections: list[tuple[str, type[BaseModel]]]) -> None:
    docs = _doc_params(model)
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = _section_models(info.annotation)
        if sub is not None:
            sections.append((key, sub))
            kind = "optional section" if not info.is_required() and \
                _default_text(info) == "`null`" else "section"
            rows.append(f"| `{key}` | {kind} | | | see [{key}](#{key.replace('.', '')}) |")
            continue
        desc = _md(info.description or docs.get(name, "")).replace("\n", " ")
        rows.append(f"| `{key}` | {_type_text(info.annotation)} | {_default_text(info)} | "
                    f"{_constraints(info)} | {desc} |")


def config_reference() -> str:
    """The configuration reference page (Markdown), generated from the schema and the
    registries: every key with its type, default, constraints and meaning; the protocols
    and their parameters; the evaluation levels; the models; the corpus readers and their
    options. ``docs/config-reference.md`` is this text (a test keeps it so); regenerate it
    with ``vocalmind config reference -o docs/config-reference.md``.
    """
    import dataclasses
    import inspect

    out = ["# Configuration reference", "",
           "Generated from the configuration schema by `vocalmind config reference "
           "-o docs/config-reference.md`; do not edit by hand (a test checks that this page "
           "matches the code). Examples: `examples/*.yaml`. Values given with "
           "`--set key.path=value` are validated exactly like the file.", ""]
    pending: list[tuple[str, type[BaseModel]]] = [("", ExperimentConfig)]
    while pending:
        prefix, model = pending.pop(0)
        title = prefix or "top level"
        own = model.__dict__.get("__doc__") or ""  # not pydantic's BaseModel docstring
        doc = _md(inspect.cleandoc(own).split("\n\n")[0].replace("\n", " "))
        out += [f"## {title}", ""] + ([doc, ""] if doc else [])
        out += ["| key | type | default | constraints | meaning |", "|---|---|---|---|---|"]
        found: list[tuple[str, type[BaseModel]]] = []
        rows: list[str] = []
        _field_rows(model, f"{prefix}." if prefix else "", rows, found)
        out += rows + [""]
        pending += found

    from vocalmind.evaluation.protocols import PROTOCOLS

    out += ["## Protocols (`protocol.name`, `protocol.params`)", "",
            "| protocol | subject-independent | parameter | default | meaning |",
            "|---|---|---|---|---|"]
    for name in sorted(PROTOCOLS):
        cls = PROTOCOLS[name]
        docs = _doc_params(cls)
        first = (inspect.getdoc(cls) or "").split("\n")[0]
        params = [f for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
        independent = "yes" if cls().subject_independent else "no"
        if any(f.name == "speaker_dependent" for f in params):
            independent = "yes, unless `speaker_dependent`"
        out.append(f"| `{name}` | {independent} | | | {_md(first)} |")
        for f in params:
            default = "" if f.default is dataclasses.MISSING else f"`{f.default!r}`"
            out.append(f"| | | `{f.name}` | {default} | {_md(docs.get(f.name, ''))} |")
    out += ["", "Repeats (`protocol.repeats`) apply to: "
            + ", ".join(f"`{p}`" for p in REPEATABLE_PROTOCOLS) + ".", ""]

    out += ["## Evaluation levels (`evaluation.level`)", "",
            "- `segment`: every scored segment (or whole recording without segmentation) is "
            "a unit.",
            "- `recording`: segments are pooled per recording (mean probabilities, or mean "
            "score).",
            "- `subject`: all of a subject's recordings are pooled into one unit (one person, "
            "one prediction).", ""]

    from vocalmind.models import list_models

    kinds = {"classical": "classical (scikit-learn pipeline; `model.tune`)",
             "mlp": "searched network (`model.params`: search space, strategy, cv)",
             "deep": "deep family (`model.training`, `model.search`, `model.pretrain`)"}
    out += ["## Models (`model.name`)", "",
            "From the model-family registry (`vocalmind models list`). Deep families also "
            "take the data settings listed with their defaults.", "",
            "| model | kind | input | tasks | default `model.params` |", "|---|---|---|---|---|"]
    for fam in list_models():
        params = _flow(fam.defaults()).replace("|", "\\|")
        out.append(f"| `{fam.name}` | {kinds[fam.kind]} | {fam.input_kind} | "
                   f"{', '.join(fam.tasks)} | `{params}` |")
    out.append("")

    from vocalmind.training.engine import TrainConfig
    from vocalmind.training.estimator import DeepEstimator

    out += ["## Deep training settings (`model.training`)", "",
            "Keys of `model.training` for the deep families (any other key is refused at "
            "load, naming the closest one).", "",
            "| key | default | meaning |", "|---|---|---|"]
    # the engine's own description where the estimator only forwards the setting
    docs = {**_doc_params(DeepEstimator), **_doc_params(TrainConfig, "Attributes")}
    for p in _training_settings():
        out.append(f"| `{p.name}` | `{_flow(p.default)}` | "
                   f"{_md(docs.get(p.name, '')).replace(chr(10), ' ')} |")
    out.append("")

    from vocalmind.corpora.readers import available_corpora, corpus_spec

    out += ["## Corpus readers (`corpus.name`, `corpus.options`)", "",
            "| reader | option | default | meaning |", "|---|---|---|---|"]
    for name in available_corpora():
        spec = corpus_spec(name)
        out.append(f"| `{name}` | | | {spec.description} |")
        docs = _doc_params(spec.reader)
        for p in inspect.signature(spec.reader).parameters.values():
            if p.kind is not p.KEYWORD_ONLY or p.name == "check_audio":
                continue
            default = "" if p.default is p.empty else f"`{p.default!r}`"
            out.append(f"| | `{p.name}` | {default} | {_md(docs.get(p.name, ''))} |")
    out.append("")
    return "\n".join(out)
