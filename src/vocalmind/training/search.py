"""Hyperparameter search with ASHA (asynchronous successive halving).

Three pieces, kept apart as in Optuna:

- :class:`SearchSpace`: the space is *data* (a dict, e.g. from YAML) validated into Optuna
  distributions; ``SearchSpace.from_dict(d).to_dict()`` round-trips.
- :class:`AshaPolicy`: the pruning policy, a small frozen object that builds Optuna's
  :class:`optuna.pruners.SuccessiveHalvingPruner`.
- :func:`run_search`: runs trials of an objective ``objective(params, report) -> float`` and
  records every trial and every pruning decision in a run folder.

ASHA semantics (Li et al., "A System for Massively Parallel Hyperparameter Tuning", MLSys
2020) and how Optuna implements them (read in ``optuna/pruners/_successive_halving.py``,
Optuna 5.0):

- Resource ``r`` (``min_resource``), reduction factor ``eta`` (``reduction_factor``) and
  minimum early-stopping rate ``s`` (``min_early_stopping_rate``) define rung ``k`` at step
  ``r * eta ** (s + k)``. ``step`` is the resource used so far (epochs done, counted from 1).
- When a trial reaches a rung's step its value there is recorded for that rung, and it is
  promoted (continues) only if it is in the top ``1/eta`` of all values recorded at that rung
  so far, itself included; otherwise it is stopped. Decisions are made at once, never
  waiting for other trials: that is the asynchronous part.
- Two differences from the paper's Algorithm 2: a trial that is not promoted is stopped for
  good (Optuna cannot pause and later resume a trial, whereas the paper may promote it later
  when the rung has grown; Ray Tune's ASHA scheduler stops early in the same way); and while
  a rung holds fewer than ``eta`` values only the best so far is promoted (so the first trial
  always is).
- Optuna ignores the maximum resource ``R``; the objective bounds its own epochs. Here
  ``max_resource`` (optional) is enforced: a report past it is an error, and no pruning
  decision is asked at ``step >= max_resource`` (the trial has finished; ASHA's top rung
  is never judged).

Outputs in ``run_dir``: ``search.json`` (space, policy, sampler, seed), ``decisions.jsonl``
(one JSON line per report, appended and flushed as it happens), ``trials.csv`` (rewritten
atomically after each trial) and ``best.json`` (atomic).
"""

from __future__ import annotations

import json
import math
import numbers
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import optuna
import pandas as pd
import yaml
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from vocalmind.errors import ConfigError, LeakageError, TooManyFailuresError
from vocalmind.files import write_json, write_table
from vocalmind.progress import progress_bar

__all__ = [
    "AshaPolicy",
    "CategoricalGrid",
    "EstimatorCVObjective",
    "FixedRun",
    "GroupedCVObjective",
    "Objective",
    "ParamSpec",
    "Report",
    "SearchResult",
    "SearchSpace",
    "estimator_cv_objective",
    "grouped_cv_objective",
    "run_fixed",
    "run_search",
]

Report = Callable[[int, float], bool]
"""``report(step, value) -> pruned``: call after each epoch/rung; stop when it returns True."""

Objective = Callable[[dict[str, Any], Report], float]
"""``objective(params, report) -> final value``."""

ParamType = Literal["float", "int", "categorical", "loguniform"]

_ALLOWED_KEYS: dict[str, frozenset[str]] = {
    "float": frozenset({"type", "low", "high", "step", "log"}),
    "int": frozenset({"type", "low", "high", "step", "log"}),
    "loguniform": frozenset({"type", "low", "high"}),
    "categorical": frozenset({"type", "choices"}),
}
_CHOICE_TYPES = (type(None), bool, int, float, str)


# --------------------------------------------------------------------------- search space


@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter, validated.

    Parameters
    ----------
    name : parameter name, passed to the objective as a key of ``params``
    type : ``"float"``, ``"int"``, ``"categorical"`` or ``"loguniform"`` (float on a log scale)
    low, high : inclusive bounds (numeric types)
    step : grid step (float/int; int defaults to 1); not allowed with ``log``
    log : sample on a log scale (needs ``low > 0``)
    choices : the values of a categorical (None, bool, int, float or str)
    """

    name: str
    type: ParamType
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    @classmethod
    def from_dict(cls, name: str, spec: Any) -> ParamSpec:
        """Validate one entry of a space dict; raise :class:`ConfigError` listing all problems."""
        problems = _spec_problems(name, spec)
        if problems:
            raise ConfigError(_format_problems(problems))
        kind = spec["type"]
        if kind == "categorical":
            return cls(name=name, type="categorical", choices=tuple(spec["choices"]))
        return cls(
            name=name,
            type=kind,
            low=spec["low"],
            high=spec["high"],
            step=spec.get("step"),
            log=bool(spec.get("log", False)) or kind == "loguniform",
        )

    def to_dict(self) -> dict[str, Any]:
        """The entry as plain data; ``ParamSpec.from_dict(name, s.to_dict()) == s``."""
        if self.type == "categorical":
            return {"type": "categorical", "choices": list(self.choices or ())}
        d: dict[str, Any] = {"type": self.type, "low": self.low, "high": self.high}
        if self.type in ("float", "int"):
            if self.step is not None:
                d["step"] = self.step
            if self.log:
                d["log"] = True
        return d

    def distribution(self) -> BaseDistribution:
        """The equivalent Optuna distribution."""
        if self.type == "categorical":
            return CategoricalDistribution(list(self.choices or ()))
        if self.type == "int":
            return IntDistribution(
                int(self.low), int(self.high), log=self.log, step=int(self.step or 1)  # type: ignore[arg-type]
            )
        return FloatDistribution(float(self.low), float(self.high), log=self.log, step=self.step)  # type: ignore[arg-type]

    def suggest(self, trial: optuna.trial.BaseTrial) -> Any:
        """Draw this parameter from an Optuna trial (or a :class:`optuna.trial.FixedTrial`)."""
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices or ()))
        if self.type == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log  # type: ignore[arg-type]
            )
        return trial.suggest_float(
            self.name, float(self.low), float(self.high), step=self.step, log=self.log  # type: ignore[arg-type]
        )

    def check_value(self, value: Any) -> None:
        """Raise :class:`ConfigError` if ``value`` is not a value of this parameter."""
        where = f"parameter {self.name!r} = {value!r}"
        if self.type == "categorical":
            if not any(value == c and type(value) is type(c) for c in self.choices or ()):
                raise ConfigError(f"{where} is not one of the choices {list(self.choices or ())}")
            return
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ConfigError(f"{where} is not a number; the space says {self.to_dict()}")
        if self.type == "int" and not float(value).is_integer():
            raise ConfigError(f"{where} is not an integer")
        if not (self.low <= value <= self.high):  # type: ignore[operator]
            raise ConfigError(f"{where} is outside [{self.low}, {self.high}]")


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(float(x))


def _spec_problems(name: Any, spec: Any) -> list[str]:
    """Every problem of one space entry, each phrased with the fix."""
    where = f"search space parameter {name!r}"
    if not isinstance(name, str) or not name:
        return [f"{where}: parameter names must be non-empty strings"]
    if not isinstance(spec, Mapping):
        return [f"{where}: expected a mapping like {{type: float, low: 0.0, high: 1.0}}, got {spec!r}"]
    kind = spec.get("type")
    if kind not in _ALLOWED_KEYS:
        return [f"{where}: 'type' is {kind!r}; use one of {sorted(_ALLOWED_KEYS)}"]
    problems = []
    extra = sorted(set(spec) - _ALLOWED_KEYS[kind])
    if extra:
        problems.append(
            f"{where}: keys {extra} are not allowed for type {kind!r}; "
            f"allowed: {sorted(_ALLOWED_KEYS[kind])}"
        )
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, Sequence) or isinstance(choices, str) or len(choices) == 0:
            problems.append(f"{where}: 'choices' must be a non-empty list, got {choices!r}")
        else:
            bad = [c for c in choices if not isinstance(c, _CHOICE_TYPES)]
            if bad:
                problems.append(
                    f"{where}: choices {bad!r} are not None/bool/int/float/str; "
                    "encode structured choices as strings"
                )
            elif len({(type(c), c) for c in choices}) != len(choices):
                problems.append(f"{where}: 'choices' has duplicates: {list(choices)!r}")
        return problems
    low, high = spec.get("low"), spec.get("high")
    for key, v in (("low", low), ("high", high)):
        if v is None:
            problems.append(f"{where}: '{key}' is required for type {kind!r}")
        elif not _is_number(v):
            problems.append(f"{where}: '{key}' must be a finite number, got {v!r}")
        elif kind == "int" and not isinstance(v, numbers.Integral):
            problems.append(f"{where}: '{key}' must be an integer for type 'int', got {v!r}")
    if problems:
        return problems
    if low > high:
        problems.append(f"{where}: low={low} > high={high}; swap them")
    log = spec.get("log", False) or kind == "loguniform"
    if not isinstance(log, bool):
        problems.append(f"{where}: 'log' must be true or false, got {log!r}")
    if log and low <= 0:
        problems.append(f"{where}: a log scale needs low > 0, got low={low}")
    step = spec.get("step")
    if step is not None:
        if log:
            problems.append(f"{where}: 'step' and 'log' cannot be combined; drop one")
        elif not _is_number(step) or step <= 0:
            problems.append(f"{where}: 'step' must be a positive number, got {step!r}")
        elif kind == "int" and not isinstance(step, numbers.Integral):
            problems.append(f"{where}: 'step' must be an integer for type 'int', got {step!r}")
        else:
            n = (high - low) / step
            if abs(n - round(n)) > 1e-9:
                problems.append(
                    f"{where}: high - low = {high - low} is not a multiple of step={step}; "
                    "adjust high or step"
                )
    return problems


def _format_problems(problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} problems in the search space:\n- " + "\n- ".join(problems)


@dataclass(frozen=True)
class SearchSpace:
    """A search space: an ordered mapping of parameter name -> :class:`ParamSpec`.

    Examples
    --------
    >>> space = SearchSpace.from_dict({
    ...     "lr": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
    ...     "layers": {"type": "int", "low": 1, "high": 4},
    ...     "pool": {"type": "categorical", "choices": ["mean", "attention"]},
    ... })
    >>> space.names
    ('lr', 'layers', 'pool')
    >>> SearchSpace.from_dict(space.to_dict()) == space
    True
    """

    params: tuple[ParamSpec, ...]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchSpace:
        """Validate a ``{name: {type: ..., ...}}`` dict.

        Raises
        ------
        ConfigError
            Listing every problem found (unknown type, missing/extra keys, low > high,
            log with low <= 0, step with log, step not dividing the range, bad choices).
        """
        if not isinstance(d, Mapping) or not d:
            raise ConfigError(
                f"a search space must be a non-empty mapping of parameter -> spec, got {d!r}"
            )
        problems = [p for name, spec in d.items() for p in _spec_problems(name, spec)]
        if problems:
            raise ConfigError(_format_problems(problems))
        return cls(tuple(ParamSpec.from_dict(name, spec) for name, spec in d.items()))

    @classmethod
    def from_yaml(cls, path: str | Path) -> SearchSpace:
        """Read a space from a YAML file holding the mapping :meth:`from_dict` takes."""
        path = Path(path)
        try:
            d = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{path}: cannot read search space: {e}") from None
        try:
            return cls.from_dict(d)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The space as plain data (YAML/JSON-serialisable)."""
        return {p.name: p.to_dict() for p in self.params}

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in declaration order."""
        return tuple(p.name for p in self.params)

    def distributions(self) -> dict[str, BaseDistribution]:
        """Optuna distributions by parameter name."""
        return {p.name: p.distribution() for p in self.params}

    def suggest(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Draw every parameter from ``trial`` (in declaration order)."""
        return {p.name: p.suggest(trial) for p in self.params}

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``params`` as a dict if it is exactly one point of this space.

        Raises
        ------
        ConfigError
            Missing or unknown parameter names, or a value outside its distribution.
        """
        missing = [n for n in self.names if n not in params]
        unknown = [n for n in params if n not in self.names]
        if missing or unknown:
            raise ConfigError(
                f"params do not match the search space: missing {missing}, unknown {unknown}"
            )
        for p in self.params:
            p.check_value(params[p.name])
        return {n: params[n] for n in self.names}


# --------------------------------------------------------------------------- ASHA policy


@dataclass(frozen=True)
class AshaPolicy:
    """Asynchronous successive halving as a policy object (see the module docstring).

    Parameters
    ----------
    min_resource : r, steps before the first rung (>= 1)
    reduction_factor : eta, keep the top 1/eta at each rung (>= 2)
    max_resource : R, the steps of a full trial; optional. Reports past it are errors and
        no decision is taken at ``step >= max_resource``.
    min_early_stopping_rate : s, rung k sits at step ``r * eta ** (s + k)`` (>= 0)
    bootstrap_count : trials that must reach a rung before any is promoted from it
        (Optuna's extension; 0 = ASHA)

    Examples
    --------
    >>> AshaPolicy(min_resource=1, reduction_factor=3, max_resource=27).rung_steps()
    [1, 3, 9]
    """

    min_resource: int = 1
    reduction_factor: int = 3
    max_resource: int | None = None
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0

    def __post_init__(self) -> None:
        def _int(name: str, v: Any, lo: int) -> None:
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
                raise ConfigError(f"AshaPolicy {name}={v!r}: must be an integer >= {lo}")

        _int("min_resource", self.min_resource, 1)
        _int("reduction_factor", self.reduction_factor, 2)
        _int("min_early_stopping_rate", self.min_early_stopping_rate, 0)
        _int("bootstrap_count", self.bootstrap_count, 0)
        if self.max_resource is not None:
            _int("max_resource", self.max_resource, 1)
            if self.max_resource <= self.rung_step(0):
                raise ConfigError(
                    f"AshaPolicy max_resource={self.max_resource} is not above the first rung "
                    f"(step {self.rung_step(0)}), so nothing could ever be pruned; raise "
                    "max_resource or lower min_resource / min_early_stopping_rate"
                )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AshaPolicy:
        """Build from plain data; unknown keys are a :class:`ConfigError`."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"AshaPolicy: unknown keys {unknown}; allowed: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """The policy as plain data."""
        return asdict(self)

    def rung_step(self, rung: int) -> int:
        """Step at which rung ``rung`` (0-based) is judged: ``r * eta ** (s + rung)``."""
        return self.min_resource * self.reduction_factor ** (self.min_early_stopping_rate + rung)

    def rung_steps(self) -> list[int]:
        """Steps of all judged rungs below ``max_resource`` (needs ``max_resource``)."""
        if self.max_resource is None:
            raise ConfigError("AshaPolicy.rung_steps() needs max_resource")
        steps, k = [], 0
        while self.rung_step(k) < self.max_resource:
            steps.append(self.rung_step(k))
            k += 1
        return steps

    def to_pruner(self) -> optuna.pruners.SuccessiveHalvingPruner:
        """Optuna's ASHA implementation configured with this policy."""
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=self.min_resource,
            reduction_factor=self.reduction_factor,
            min_early_stopping_rate=self.min_early_stopping_rate,
            bootstrap_count=self.bootstrap_count,
        )


# --------------------------------------------------------------------------- running


@dataclass
class SearchResult:
    """What :func:`run_search` found.

    Attributes
    ----------
    best_params : parameters of the best completed trial
    best_value : its final objective value
    trials : one row per trial (see :func:`run_search`)
    best_trial : its trial number
    run_dir : the folder holding trials.csv, decisions.jsonl, best.json, search.json
    """

    best_params: dict[str, Any]
    best_value: float
    trials: pd.DataFrame
    best_trial: int = -1
    run_dir: Path | None = None


@dataclass
class FixedRun:
    """Result of :func:`run_fixed`: the final value and the reported curve [(step, value)]."""

    value: float
    curve: list[tuple[int, float]] = field(default_factory=list)


class _Curve:
    """Checks the report protocol of one trial: integer steps >= 1, strictly increasing."""

    def __init__(self, max_resource: int | None) -> None:
        self.max_resource = max_resource
        self.points: list[tuple[int, float]] = []

    def add(self, step: Any, value: Any) -> tuple[int, float]:
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 1:
            raise ConfigError(f"report(step={step!r}, ...): step must be an integer >= 1 (epochs done)")
        last = self.points[-1][0] if self.points else 0
        if step <= last:
            raise ConfigError(f"report(step={step}, ...): steps must increase; last was {last}")
        if self.max_resource is not None and step > self.max_resource:
            raise ConfigError(
                f"report(step={step}, ...) is past the policy's max_resource={self.max_resource}"
            )
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"report(..., value={value!r}): value must be a number") from None
        self.points.append((int(step), v))
        return int(step), v


def run_fixed(
    objective: Objective,
    params: Mapping[str, Any],
    *,
    space: SearchSpace | None = None,
    max_resource: int | None = None,
) -> FixedRun:
    """Run ``objective`` once with fixed ``params`` and no pruning (reproduce a trial).

    Parameters
    ----------
    objective : ``objective(params, report) -> float``
    params : the parameters, e.g. ``SearchResult.best_params`` or a row of trials.csv
    space : if given, ``params`` are checked to be a point of it
    max_resource : if given, reports past it are errors (as in the search)

    Returns
    -------
    FixedRun
        The final value and every reported (step, value).
    """
    p = space.check_params(params) if space is not None else dict(params)
    curve = _Curve(max_resource)

    def report(step: int, value: float) -> bool:
        curve.add(step, value)
        return False

    return FixedRun(float(objective(p, report)), curve.points)


class _RunLog:
    """Thread-safe writers for the run folder (trials run in threads when n_jobs > 1)."""

    def __init__(self, run_dir: Path | None, t0: float) -> None:
        self.run_dir = run_dir
        self.t0 = t0
        self.lock = threading.Lock()
        self._fh = (None if run_dir is None
                    else (run_dir / "decisions.jsonl").open("w", encoding="utf-8"))

    def decision(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            return
        record["t"] = round(time.monotonic() - self.t0, 4)
        line = json.dumps(record, allow_nan=False)
        with self.lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self.lock:
            if self._fh is not None:
                self._fh.close()


def _finite_or_none(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _trials_table(study: optuna.Study, space: SearchSpace) -> pd.DataFrame:
    rows = []
    for t in study.get_trials(deepcopy=False):
        duration = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else np.nan
        )
        row: dict[str, Any] = {
            "trial": t.number,
            "state": t.state.name,
            "value": t.value if t.value is not None else np.nan,
            "last_step": t.last_step if t.last_step is not None else np.nan,
            "n_reports": len(t.intermediate_values),
            "pruned_rung": t.user_attrs.get("pruned_rung", np.nan),
            "duration_s": duration,
        }
        for name in space.names:
            row[f"params_{name}"] = t.params.get(name, np.nan)
        rows.append(row)
    cols = ["trial", "state", "value", "last_step", "n_reports", "pruned_rung", "duration_s"]
    cols += [f"params_{n}" for n in space.names]
    df = pd.DataFrame(rows, columns=cols)
    df["pruned_rung"] = df["pruned_rung"].astype("Int64")
    return df


def _make_sampler(sampler: str | optuna.samplers.BaseSampler, seed: int) -> optuna.samplers.BaseSampler:
    if isinstance(sampler, optuna.samplers.BaseSampler):
        return sampler
    if sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    raise ConfigError(f"sampler={sampler!r}: use 'random', 'tpe' or an optuna sampler instance")


def asha_trial_objective(
    objective: Callable[[dict[str, Any], Callable[[int, float], bool]], float],
    space: SearchSpace,
    policy: AshaPolicy | None,
    record: Callable[[dict[str, Any]], None],
) -> Callable[[optuna.Trial], float]:
    """Wrap a vocalmind objective as an Optuna objective under an ASHA policy (None: no
    pruning, every trial runs to its end).

    The objective gets ``report(step, value) -> pruned``; every report becomes one
    decision record ``{trial, step, value, rung, pruned}`` handed to ``record`` (the local
    search appends it to ``decisions.jsonl``; the distributed search to a per-task file).
    This is the one place the report protocol and the rung bookkeeping live.
    """
    max_r = policy.max_resource if policy is not None else None

    def optuna_objective(trial: optuna.Trial) -> float:
        params = space.suggest(trial)
        curve = _Curve(max_r)
        state: dict[str, Any] = {"next_rung": 0, "pruned_at": None}

        def report(step: int, value: float) -> bool:
            if state["pruned_at"] is not None:
                raise optuna.TrialPruned(
                    f"trial {trial.number} reported step {step} after being pruned at "
                    f"step {state['pruned_at']}"
                )
            step, value = curve.add(step, value)
            trial.report(value, step)
            rung: int | None = None
            pruned = False
            if policy is not None and (max_r is None or step < max_r):
                # Rungs crossed by this step, by the policy's formula; Optuna judges them in
                # order and stops at the first lost one, so the last crossed is the one that
                # decided (steps reported every epoch cross at most one).
                while policy.rung_step(state["next_rung"]) <= step and (
                    max_r is None or policy.rung_step(state["next_rung"]) < max_r
                ):
                    rung = state["next_rung"]
                    state["next_rung"] += 1
                pruned = trial.should_prune()
            record({"trial": trial.number, "step": step, "value": _finite_or_none(value),
                    "rung": rung, "pruned": pruned})
            if pruned:
                state["pruned_at"] = step
                trial.set_user_attr("pruned_rung", rung)
            return pruned

        value = objective(params, report)
        if state["pruned_at"] is not None:
            raise optuna.TrialPruned(f"pruned at step {state['pruned_at']}")
        return float(value)

    return optuna_objective


def _checked_search_args(space: SearchSpace | Mapping[str, Any], direction: str,
                         **counts: Any) -> SearchSpace:
    """The checks every runner (local threads, executor workers) makes before it starts:
    the space, the direction, and counts such as ``n_trials`` (integers >= 1)."""
    if not isinstance(space, SearchSpace):
        space = SearchSpace.from_dict(space)
    if direction not in ("maximize", "minimize"):
        raise ConfigError(f"direction={direction!r}: use 'maximize' or 'minimize'")
    for name, v in counts.items():
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ConfigError(f"{name}={v!r}: must be an integer >= 1")
    return space


def _write_best(run_dir: Path, study: optuna.Study, direction: str) -> None:
    """``best.json`` of a study with a completed trial (nothing before the first one)."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return
    best = study.best_trial
    counts = pd.Series([t.state.name for t in study.get_trials(deepcopy=False)])
    write_json(
        run_dir / "best.json",
        {
            "best_trial": best.number,
            "best_value": best.value,
            "best_params": best.params,
            "direction": direction,
            "trials_so_far": counts.value_counts().to_dict(),
        },
    )


def _search_result(study: optuna.Study, trials: pd.DataFrame,
                   run_dir: Path | None) -> SearchResult:
    """The runners' result, or :class:`TooManyFailuresError` when no trial completed."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        counts = trials["state"].value_counts().to_dict()
        where = f"; see {run_dir / 'trials.csv'}" if run_dir is not None else ""
        raise TooManyFailuresError(f"no trial of the search completed ({counts}){where}")
    best = study.best_trial
    return SearchResult(
        best_params=dict(best.params),
        best_value=float(best.value),  # type: ignore[arg-type]
        trials=trials,
        best_trial=best.number,
        run_dir=run_dir,
    )


def run_search(
    objective: Objective,
    space: SearchSpace | Mapping[str, Any],
    *,
    n_trials: int,
    policy: AshaPolicy | None,
    direction: Literal["maximize", "minimize"] = "maximize",
    seed: int = 0,
    run_dir: str | Path | None,
    n_jobs: int = 1,
    sampler: Literal["random", "tpe"] | optuna.samplers.BaseSampler = "random",
    points: Sequence[Mapping[str, Any]] = (),
    overwrite: bool = False,
    catch: tuple[type[Exception], ...] = (),
    progress: bool = True,
    description: str = "ASHA search",
) -> SearchResult:
    """Search ``space`` for the best ``objective`` value, pruning trials with ASHA.

    The one search runner: the deep families' ``model.search`` (ASHA over epochs), the
    ``mlp`` architecture search and the classical ``model.tune`` grid (no pruning, the grid
    as ``points``) all run here; :func:`vocalmind.distributed.run_search_distributed` runs
    the same trials on an executor.

    Parameters
    ----------
    objective : ``objective(params, report) -> float``. It calls ``report(step, value)``
        after each epoch (``step`` = epochs done, from 1, strictly increasing) and must
        stop and return when ``report`` returns True (the trial was pruned). Reporting again
        after that stops the trial by raising :class:`optuna.TrialPruned`.
    space : a :class:`SearchSpace` or the dict :meth:`SearchSpace.from_dict` takes
    n_trials : number of trials (>= 1)
    policy : the ASHA policy; None = no pruning (single-score objectives, grids)
    direction : ``"maximize"`` (accuracy, F1 ...) or ``"minimize"`` (loss, MAE ...)
    seed : sampler seed; with ``n_jobs=1`` the same seed gives the same trials
    run_dir : output folder (created); None = keep no records on disk
    n_jobs : trials run in parallel threads (results then depend on timing)
    sampler : ``"random"`` (the paper's ASHA setting), ``"tpe"`` or an Optuna sampler
    points : parameter sets to run first, in this order (Optuna's enqueued trials; each
        is checked to be a point of ``space``); a grid search passes every grid point and
        ``n_trials=len(points)``
    overwrite : allow a ``run_dir`` that already holds a search (its files are replaced)
    catch : exception types that fail a trial without stopping the search
    progress : show a rich progress bar
    description : the progress bar's label

    Returns
    -------
    SearchResult
        ``trials`` has columns trial, state (COMPLETE/PRUNED/FAIL), value (pruned: last
        reported value), last_step, n_reports, pruned_rung, duration_s, params_<name>.

    Raises
    ------
    ConfigError
        Bad space, direction, sampler, n_trials, n_jobs or point; ``run_dir`` holds a search
        and ``overwrite`` is False; the objective broke the report protocol.
    TooManyFailuresError
        No trial completed.

    Notes
    -----
    ``decisions.jsonl`` has one line per report: ``{"trial", "step", "value", "rung",
    "pruned", "t"}`` where ``rung`` is the rung judged at that step (None between rungs,
    without a policy and at ``step >= max_resource``) and ``t`` the seconds since the
    search started.
    """
    space = _checked_search_args(space, direction, n_trials=n_trials, n_jobs=n_jobs)
    checked_points = [space.check_params(pt) for pt in points]
    out_dir = Path(run_dir) if run_dir is not None else None
    outputs = ("decisions.jsonl", "trials.csv", "best.json", "search.json")
    if out_dir is not None:
        if not overwrite and any((out_dir / f).exists() for f in outputs):
            raise ConfigError(
                f"{out_dir} already holds a search; choose a new run_dir or pass overwrite=True"
            )
        out_dir.mkdir(parents=True, exist_ok=True)
    sampler_obj = _make_sampler(sampler, seed)
    if out_dir is not None:
        write_json(
            out_dir / "search.json",
            {
                "space": space.to_dict(),
                "policy": policy.to_dict() if policy is not None else None,
                "direction": direction,
                "n_trials": n_trials,
                "n_jobs": n_jobs,
                "seed": seed,
                "sampler": sampler if isinstance(sampler, str) else type(sampler).__name__,
                "points": len(checked_points),
                "optuna": optuna.__version__,
            },
        )
    old_verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is noise here
    study = optuna.create_study(
        direction=direction, sampler=sampler_obj,
        pruner=policy.to_pruner() if policy is not None else optuna.pruners.NopPruner(),
    )
    for pt in checked_points:
        study.enqueue_trial(pt)
    log = _RunLog(out_dir, time.monotonic())
    optuna_objective = asha_trial_objective(objective, space, policy, log.decision)

    def write_outputs(study: optuna.Study) -> None:
        if out_dir is None:
            return
        with log.lock:
            write_table(_trials_table(study, space), out_dir / "trials.csv")
            _write_best(out_dir, study, direction)

    try:
        with progress_bar(transient=True, disable=not progress) as bar:
            task = bar.add_task(description, total=n_trials)
            study.optimize(
                optuna_objective,
                n_trials=n_trials,
                n_jobs=n_jobs,
                catch=catch,
                callbacks=[lambda s, t: write_outputs(s), lambda s, t: bar.advance(task)],
            )
    finally:
        optuna.logging.set_verbosity(old_verbosity)
        log.close()
        write_outputs(study)  # also records a trial that failed and stopped the search

    return _search_result(study, _trials_table(study, space), out_dir)


# --------------------------------------------------------------------------- grouped CV objective


class BuildAndTrain(Protocol):
    """``build_and_train(params, X_train, y_train, X_val, y_val)``.

    Returns an iterator yielding the validation score after each epoch (a generator is the
    natural way), or a single float for models without epochs.
    """

    def __call__(
        self, params: dict[str, Any], X_train: Any, y_train: Any, X_val: Any, y_val: Any
    ) -> Iterator[float] | float: ...


class GroupedCVObjective:
    """An objective whose value is the mean validation score over subject-grouped folds.

    Built by :func:`grouped_cv_objective`. The folds are fixed when it is built (every trial
    sees the same folds) and are available as :attr:`splits`.
    """

    def __init__(
        self,
        build_and_train: BuildAndTrain,
        X: Any,
        y: np.ndarray,
        groups: np.ndarray,
        splits: list[tuple[np.ndarray, np.ndarray]],
    ) -> None:
        self.build_and_train = build_and_train
        self.X, self.y, self.groups = X, y, groups
        self.splits = splits

    def __call__(self, params: dict[str, Any], report: Report) -> float:
        """Train all folds in lockstep, reporting the mean fold score after each epoch."""
        from sklearn.utils import _safe_indexing

        runs: list[Iterator[float]] = []
        single: list[float] = []
        for tr, va in self.splits:
            out = self.build_and_train(
                params,
                _safe_indexing(self.X, tr),
                self.y[tr],
                _safe_indexing(self.X, va),
                self.y[va],
            )
            if isinstance(out, numbers.Real):
                single.append(float(out))
            else:
                runs.append(iter(out))
        if single:
            if runs:
                raise ConfigError("build_and_train returned a float for some folds and an iterator for others")
            mean = float(np.mean(single))
            report(1, mean)
            return mean

        mean = math.nan
        epoch = 0
        try:
            while True:
                scores = []
                for r in runs:
                    try:
                        scores.append(float(next(r)))
                    except StopIteration:
                        pass
                if not scores:
                    break
                if len(scores) != len(runs):
                    raise ConfigError(
                        f"folds yielded different numbers of epochs (epoch {epoch + 1}: "
                        f"{len(scores)} of {len(runs)} folds); every fold must train as long"
                    )
                epoch += 1
                mean = float(np.mean(scores))
                if report(epoch, mean):
                    break
        finally:
            for r in runs:
                close = getattr(r, "close", None)
                if close is not None:
                    close()
        if epoch == 0:
            raise ConfigError("build_and_train yielded no epoch score")
        return mean


def grouped_cv_objective(
    build_and_train: BuildAndTrain,
    X: Any,
    y: Sequence[Any] | np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    *,
    n_splits: int = 3,
    seed: int = 0,
    stratify: bool = True,
    cv: Any = None,
) -> GroupedCVObjective:
    """Compose an objective scored on subject-grouped inner folds.

    Parameters
    ----------
    build_and_train : ``(params, X_train, y_train, X_val, y_val) -> Iterator[float] | float``;
        yields the validation score after each epoch (higher is better when maximising)
    X : samples, array-like [shape=(n_samples, ...)] or DataFrame or list (indexed by rows)
    y : labels [shape=(n_samples,)]
    groups : subject ids [shape=(n_samples,)], required: no subject is ever in both the
        inner train and validation parts
    n_splits : inner folds
    seed : shuffling seed of the folds
    stratify : stratify on ``y``'s classes (classification) if True, else plain subject
        folds (regression); the folds are :class:`~vocalmind.evaluation.protocols.InnerGroupSplit`'s
    cv : a splitter with ``split(X, y, groups)``, or the (train, validation) position pairs
        themselves (e.g. folds stratified on other labels than ``y``), overriding the above

    Returns
    -------
    GroupedCVObjective
        ``objective(params, report) -> float``: the mean over folds of the last epoch's
        score; after each epoch it reports the mean of the folds' scores, so ASHA compares
        trials on the same quantity it optimises. All folds' models are alive at once.

    Raises
    ------
    ConfigError
        Lengths differ, or fewer subjects than ``n_splits``.
    LeakageError
        A split puts a subject on both sides (only possible with a faulty ``cv``).
    """
    from vocalmind.evaluation.protocols import InnerGroupSplit

    y_arr = np.asarray(y)
    g_arr = np.asarray(groups)
    n = len(y_arr)
    if len(g_arr) != n or len(X) != n:
        raise ConfigError(f"X, y and groups must have the same length; got {len(X)}, {n}, {len(g_arr)}")
    if pd.isna(g_arr).any():
        raise ConfigError("groups has missing subject ids; every sample needs its subject")
    n_groups = len(np.unique(g_arr))
    if cv is None:
        if n_groups < n_splits:
            raise ConfigError(
                f"n_splits={n_splits} inner folds need at least {n_splits} subjects; got {n_groups}"
            )
        cv = InnerGroupSplit(n_splits=n_splits, stratify=stratify, seed=seed)
    pairs = cv.split(np.zeros(n), y_arr, g_arr) if hasattr(cv, "split") else cv
    splits = [(np.asarray(tr), np.asarray(va)) for tr, va in pairs]
    for k, (tr, va) in enumerate(splits):
        both = sorted(set(g_arr[tr].tolist()) & set(g_arr[va].tolist()))
        if both:
            raise LeakageError(
                f"inner fold {k}: subjects {both[:5]} are in both train and validation; "
                "use a group-aware splitter"
            )
        if len(va) == 0 or len(tr) == 0:
            raise ConfigError(f"inner fold {k} has an empty train or validation part")
    return GroupedCVObjective(build_and_train, X, y_arr, g_arr, splits)


# --------------------------------------------------------------------------- grids


@dataclass(frozen=True)
class CategoricalGrid:
    """A grid of named value lists (``{"C": [0.1, 1], "blocks": [["a"], ["b"]]}``) as a
    search space of categoricals, for grid and random searches on :func:`run_search`.

    Values a categorical cannot hold (lists, dicts: anything but None, bool, int, float and
    str) are searched as their JSON text; :meth:`decode` gives a trial's parameters back as
    the grid's own values.
    """

    values: Mapping[str, Sequence[Any]]

    def _coded(self) -> dict[str, list[Any]]:
        return {k: [v if isinstance(v, _CHOICE_TYPES) else json.dumps(v) for v in vals]
                for k, vals in self.values.items()}

    def space(self) -> dict[str, dict[str, Any]]:
        """The search space (categorical, coded choices)."""
        return {k: {"type": "categorical", "choices": v} for k, v in self._coded().items()}

    def points(self) -> Any:
        """Every grid point in scikit-learn's ``ParameterGrid`` order (indexable), coded."""
        from sklearn.model_selection import ParameterGrid

        return ParameterGrid(self._coded())

    def decode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's (coded) parameters as the grid's values."""
        coded = self._coded()
        return {k: self.values[k][coded[k].index(c)] for k, c in params.items()}


# --------------------------------------------------------------------------- estimator CV objective


class EstimatorCVObjective:
    """A scikit-learn estimator scored on subject-grouped inner folds, as an objective.

    Built by :func:`estimator_cv_objective`. Each trial fits a clone of the estimator with
    the trial's parameters on every inner training part and scores it on the validation
    part; the value is the mean score (reported once, at step 1). :attr:`history` keeps one
    record per finished trial, ``{"params", "scores"}`` (scores per fold, higher is better).
    Trials must run one at a time (``n_jobs=1``): the fold scores of a trial are collected
    in order.
    """

    def __init__(self, estimator: Any, X: Any, y: np.ndarray, groups: np.ndarray,
                 splits: list[tuple[np.ndarray, np.ndarray]], scoring: str,
                 fit_groups: bool) -> None:
        from sklearn.metrics import get_scorer

        self.estimator = estimator
        self.X, self.y, self.groups = X, y, groups
        self.scoring = scoring
        self.scorer = get_scorer(scoring)
        self.fit_groups = fit_groups
        self.history: list[dict[str, Any]] = []
        self._scores: list[float] = []
        positions = np.arange(len(y))
        # the folds are checked (grouped, non-empty) by the one grouped-CV objective;
        # it trains on row positions, which this objective maps back to rows
        self._cv = GroupedCVObjective(self._fit_score, positions, y, groups, splits)

    @property
    def splits(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The inner (train, validation) row positions every trial uses."""
        return self._cv.splits

    def _fit_score(self, params: dict[str, Any], i_tr: np.ndarray, y_tr: Any,
                   i_va: np.ndarray, y_va: Any) -> float:
        from sklearn.base import clone
        from sklearn.utils import _safe_indexing

        est = clone(self.estimator).set_params(**params)
        fit_kw = {"groups": self.groups[i_tr]} if self.fit_groups else {}
        est.fit(_safe_indexing(self.X, i_tr), y_tr, **fit_kw)
        score = float(self.scorer(est, _safe_indexing(self.X, i_va), y_va))
        self._scores.append(score)
        return score

    def __call__(self, params: dict[str, Any], report: Report) -> float:
        self._scores = []
        value = self._cv(params, report)
        self.history.append({"params": dict(params), "scores": list(self._scores)})
        return value

    def best(self) -> dict[str, Any]:
        """The first trial with the highest mean score (ties go to the earlier trial, as in
        scikit-learn's ``GridSearchCV``)."""
        if not self.history:
            raise TooManyFailuresError("no trial of the search finished")
        means = [float(np.mean(h["scores"])) for h in self.history]
        return self.history[int(np.nanargmax(means))]


def estimator_cv_objective(
    estimator: Any,
    X: Any,
    y: Sequence[Any] | np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    *,
    scoring: str,
    n_splits: int = 3,
    seed: int = 0,
    stratify: bool = True,
    cv: Any = None,
    fit_groups: bool = False,
) -> EstimatorCVObjective:
    """Compose the objective of a scikit-learn estimator's hyper-parameter search.

    Parameters
    ----------
    estimator : an unfitted scikit-learn estimator or pipeline (cloned per fit)
    X, y, groups : the training rows, labels and subject ids (required)
    scoring : a scikit-learn scorer name (higher is better), e.g. ``"balanced_accuracy"``
    n_splits, seed, stratify, cv : the inner folds, as in :func:`grouped_cv_objective`
    fit_groups : pass the inner training part's subject ids to ``fit(..., groups=)`` (for
        estimators that split by subject themselves, e.g. an early-stopped network)

    Raises
    ------
    ConfigError, LeakageError
        As :func:`grouped_cv_objective`.
    """
    g_arr = np.asarray(groups)
    base = grouped_cv_objective(lambda *a: 0.0, np.arange(len(g_arr)), y, g_arr,
                                n_splits=n_splits, seed=seed, stratify=stratify, cv=cv)
    return EstimatorCVObjective(estimator, X, base.y, base.groups, base.splits, scoring,
                                fit_groups)
