"""The ASHA search of :mod:`vocalmind.training.search`, its trials spread over executor workers.

One Optuna study lives in a journal file (:class:`optuna.storages.JournalStorage` on a
:class:`~optuna.storages.journal.JournalFileBackend`) on storage that every worker can
write (the run folder, on a shared file system). The driver creates the study and maps
``n_workers`` tasks through an :class:`~vocalmind.features.executor.Executor` (Ray on a
cluster, local processes otherwise); each task loads the study and runs its share of the
trials with ``study.optimize``. Optuna's ASHA pruner reads every trial's reports from the
shared storage, so a pruning decision sees the rungs as filled by all workers at that
moment: this is ASHA's asynchronous rule, exactly as with threads on one machine.

Same space (:class:`~vocalmind.training.search.SearchSpace`), same policy
(:class:`~vocalmind.training.search.AshaPolicy`), same objective protocol
(``objective(params, report) -> float``), same outputs as
:func:`~vocalmind.training.search.run_search`: ``search.json``, ``decisions.jsonl``
(merged from one file per task, ordered by time), ``trials.csv`` and ``best.json``, plus
``study.journal`` (the study itself, readable with ``optuna.load_study``).

Faults: a task whose worker dies is re-run by the executor (Ray ``max_retries``); the new
attempt marks the trials its dead attempt left RUNNING as FAIL (user attribute
``lost_worker``) and runs only the trials its task still owes, so the search still ends
with ``n_trials`` finished trials. The lost trials stay visible in ``trials.csv`` (FAIL).

Reproducibility: with ``sampler="random"`` the parameters of trial ``n`` are drawn from a
generator seeded by ``(seed, n)``, so they do not depend on which worker ran the trial; the
pruning decisions do depend on the order in which trials reach the rungs (as with
``n_jobs > 1`` locally).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna
import pandas as pd
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from vocalmind.errors import ConfigError, TooManyFailuresError
from vocalmind.features.executor import Executor, LocalExecutor
from vocalmind.files import write_json, write_table
from vocalmind.training.search import (
    AshaPolicy,
    Objective,
    SearchResult,
    SearchSpace,
    _checked_search_args,
    _search_result,
    _trials_table,
    _write_best,
    asha_trial_objective,
)

__all__ = ["TrialSeededSampler", "run_search_distributed"]

log = logging.getLogger(__name__)

_STUDY = "vocalmind-search"
_TASK_ATTR, _LOST_ATTR = "worker_task", "lost_worker"


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """Random sampling where trial ``n``'s parameters depend only on ``(seed, n, name)``.

    Optuna's :class:`~optuna.samplers.RandomSampler` draws from one generator per process,
    so on several workers the parameters of a trial would depend on the worker. Seeding per
    trial makes a distributed search draw the same points as a single-process one.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        text = f"{self.seed}/{trial.number}/{param_name}".encode()
        sub_seed = int.from_bytes(hashlib.sha256(text).digest()[:4], "little")
        return optuna.samplers.RandomSampler(seed=sub_seed).sample_independent(
            study, trial, param_name, param_distribution
        )


def _make_sampler(sampler: str, seed: int, task: int) -> optuna.samplers.BaseSampler:
    if sampler == "random":
        return TrialSeededSampler(seed)
    if sampler == "tpe":
        # TPE learns from the shared history; each worker gets its own stream of draws
        return optuna.samplers.TPESampler(seed=seed + 1000 * task)
    raise ConfigError(f"sampler={sampler!r}: use 'random' or 'tpe'")


def _storage(path: Path) -> optuna.storages.JournalStorage:
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    # the open()-based lock works on NFS, where symlink locks are unreliable
    return optuna.storages.JournalStorage(
        JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
    )


@dataclass(frozen=True)
class _Task:
    index: int
    n_trials: int
    run_dir: str
    space: dict[str, Any]
    policy: dict[str, Any]
    sampler: str
    seed: int
    t0: float  # wall-clock start of the search (time.time()): decisions' "t" is relative to it


def _worker(task: _Task, *, objective: Objective, catch: tuple[type[Exception], ...]) -> int:
    """Task body: run this task's share of trials on the shared study; returns trials run."""
    run_dir = Path(task.run_dir)
    space = SearchSpace.from_dict(task.space)
    policy = AshaPolicy.from_dict(task.policy)
    storage = _storage(run_dir / "study.journal")
    study = optuna.load_study(
        study_name=_STUDY, storage=storage,
        sampler=_make_sampler(task.sampler, task.seed, task.index), pruner=policy.to_pruner(),
    )  # fmt: skip
    owed = task.n_trials
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get(_TASK_ATTR) != task.index:
            continue
        if t.state == TrialState.RUNNING:
            # left by an earlier attempt of this task whose worker died: the executor only
            # re-runs a task after its attempt is gone, so nobody else is running it
            storage.set_trial_user_attr(t._trial_id, _LOST_ATTR, True)
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        elif not t.user_attrs.get(_LOST_ATTR):
            owed -= 1
    if owed <= 0:
        return 0
    decisions = (run_dir / "decisions").joinpath(f"task-{task.index:04d}.jsonl")
    decisions.parent.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    with decisions.open("a", encoding="utf-8") as fh:

        def record(decision: dict[str, Any]) -> None:
            decision["t"] = round(time.time() - task.t0, 4)
            fh.write(json.dumps(decision, allow_nan=False) + "\n")
            fh.flush()

        asha_objective = asha_trial_objective(objective, space, policy, record)

        def optuna_objective(trial: optuna.Trial) -> float:
            trial.set_user_attr(_TASK_ATTR, task.index)
            return asha_objective(trial)

        study.optimize(optuna_objective, n_trials=owed, catch=catch)
    return owed


def _merge_decisions(run_dir: Path) -> int:
    lines = []
    for f in sorted((run_dir / "decisions").glob("task-*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line cut by a dying worker
    lines.sort(key=lambda r: (r["t"], r["trial"], r["step"]))
    from vocalmind.files import write_text

    write_text(run_dir / "decisions.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
    return len(lines)


def run_search_distributed(
    objective: Objective,
    space: SearchSpace | Mapping[str, Any],
    *,
    n_trials: int,
    policy: AshaPolicy,
    run_dir: str | Path,
    executor: Executor | None = None,
    n_workers: int | None = None,
    direction: Literal["maximize", "minimize"] = "maximize",
    seed: int = 0,
    sampler: Literal["random", "tpe"] = "random",
    overwrite: bool = False,
    catch: tuple[type[Exception], ...] = (),
) -> SearchResult:
    """Run an ASHA search with its trials spread over ``n_workers`` executor tasks.

    Parameters
    ----------
    objective : ``objective(params, report) -> float`` as for
        :func:`~vocalmind.training.search.run_search`; must pickle (a module-level function
        or an object such as :class:`~vocalmind.training.search.GroupedCVObjective`)
    space : :class:`SearchSpace` or its dict
    n_trials : finished trials wanted in total (>= 1)
    policy : the ASHA policy
    run_dir : output folder; on a cluster it must be on storage shared by all nodes
        (it holds the study journal every worker reads and writes)
    executor : e.g. ``get_executor("ray", address="auto")``; None = local processes
    n_workers : trials run at once; None = the Ray cluster's CPUs (Ray) or 1
    direction : ``"maximize"`` or ``"minimize"``
    seed : sampler seed (with ``"random"``, trial ``n``'s parameters depend only on it and n)
    sampler : ``"random"`` (ASHA's setting) or ``"tpe"``
    overwrite : replace a search already in ``run_dir``
    catch : exception types that fail a trial without stopping its worker

    Returns
    -------
    SearchResult
        As :func:`~vocalmind.training.search.run_search`.

    Raises
    ------
    ConfigError
        Bad options, or ``run_dir`` already holds a search and ``overwrite`` is False.
    TooManyFailuresError
        No trial completed, or a worker task failed for good (its error is named; the
        outputs recorded so far are written first).
    """
    space = _checked_search_args(space, direction, n_trials=n_trials)
    ex = executor if executor is not None else LocalExecutor(n_workers or 1, progress=False)
    if n_workers is None:
        total = getattr(ex, "total_cpus", None)
        n_workers = total() if callable(total) else getattr(ex, "n_jobs", 1)
    _checked_search_args(space, direction, n_workers=n_workers)
    n_workers = min(int(n_workers), int(n_trials))
    _make_sampler(sampler, seed, 0)  # validates the name now, not in a worker

    run_dir = Path(run_dir).expanduser().resolve()
    outputs = ("decisions.jsonl", "trials.csv", "best.json", "search.json", "study.journal")
    if any((run_dir / f).exists() for f in outputs):
        if not overwrite:
            raise ConfigError(f"{run_dir} already holds a search; choose a new run_dir or pass overwrite=True")
        for f in outputs:
            (run_dir / f).unlink(missing_ok=True)
        for f in (run_dir / "decisions").glob("task-*.jsonl"):
            f.unlink()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "search.json", {
        "space": space.to_dict(), "policy": policy.to_dict(), "direction": direction,
        "n_trials": n_trials, "n_jobs": n_workers, "seed": seed, "sampler": sampler,
        "optuna": optuna.__version__, "executor": type(ex).__name__,
    })  # fmt: skip
    storage = _storage(run_dir / "study.journal")
    study = optuna.create_study(storage=storage, study_name=_STUDY, direction=direction)

    shares = [n_trials // n_workers + (1 if k < n_trials % n_workers else 0) for k in range(n_workers)]
    t0 = time.time()
    tasks = [_Task(index=k, n_trials=n, run_dir=str(run_dir), space=space.to_dict(),
                   policy=policy.to_dict(), sampler=sampler, seed=seed, t0=t0)
             for k, n in enumerate(shares)]  # fmt: skip
    fn = functools.partial(_worker, objective=objective, catch=catch)
    errors = [(t.index, res) for t, res in ex.map(fn, tasks, description="ASHA search workers")
              if isinstance(res, BaseException)]

    _merge_decisions(run_dir)
    study = optuna.load_study(study_name=_STUDY, storage=storage)
    trials = _trials_table(study, space)
    write_table(trials, run_dir / "trials.csv")
    _write_best(run_dir, study, direction)
    if errors:
        k, err = errors[0]
        raise TooManyFailuresError(
            f"{len(errors)} of {n_workers} search workers failed (task {k}: "
            f"{type(err).__name__}: {err}); the trials recorded so far are in {run_dir}"
        ) from (err if isinstance(err, Exception) else None)
    return _search_result(study, trials, run_dir)


def lost_trials(run_dir: str | Path) -> pd.DataFrame:
    """Trials lost with a dead worker (FAIL with ``lost_worker``), from the study journal."""
    study = optuna.load_study(study_name=_STUDY, storage=_storage(Path(run_dir) / "study.journal"))
    rows = [{"trial": t.number, "task": t.user_attrs.get(_TASK_ATTR)}
            for t in study.get_trials(deepcopy=False) if t.user_attrs.get(_LOST_ATTR)]
    return pd.DataFrame(rows, columns=["trial", "task"])
