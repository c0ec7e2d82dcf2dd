"""The tuning protocol's trials, as the config defines them (config ``tuning``): which methods are
tuned and the trials each may run. A trial is a method and an index (the ``trial`` wildcard of
``workflow/rules/tuning.smk``; ``autolora.config.task_config`` merges its settings into the
method's config view). Listed trials are the same number for every trained method; a ladder
(``tuning.ladder``: ``start × factor^j`` for ``rungs`` rungs) is one list of rungs for all, of which
the first round tries the initial ones and ``autolora.stages.tuning`` extends past a chosen end.
Under a ladder the grid is tuned as its candidates (``grid_r{r}``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from autolora.methods import GRID, training_of

# A trial's folder, beside the method folders of its task and seed (the tuning seed's).
TRIAL_FOLDER = "tune_{method}_t{trial}"


def ladder_trials(ladder: Mapping) -> list[dict]:
    """Every rung a ladder may try, lowest first: ``max_extensions`` below the initial rungs, the
    ``rungs`` initial ones (``start × factor^j``), ``max_extensions`` above."""
    section, key = ladder["setting"].split(".")
    extensions = ladder["max_extensions"]
    # 12 significant digits: 1e-5 × 10^-1 is 1e-6, not 1.0000000000000002e-06, in records and tables.
    return [{section: {key: float(f"{ladder['start'] * ladder['factor'] ** (index - extensions):.12g}")}}
            for index in range(ladder["rungs"] + 2 * extensions)]


def tuned_methods(config: Mapping, grid_runs: Sequence[str] = ()) -> list[str]:
    """The methods with tuning trials: those listed under tuning.trials, or under a ladder every
    trained method of ``methods`` in the order listed, the grid as its candidates ``grid_runs``."""
    tuning = config.get("tuning")
    if tuning is None:
        return []
    if "ladder" not in tuning:
        return list(tuning["trials"])
    methods = [method for method in config["methods"] if training_of(method) is not None]
    return [run for method in methods for run in (grid_runs if method == GRID else [method])]


def tuning_trials(config: Mapping, method: str) -> list[dict]:
    """Every trial ``method`` may run: its listed trials, or every rung of the ladder."""
    tuning = config["tuning"]
    return ladder_trials(tuning["ladder"]) if "ladder" in tuning else tuning["trials"][method]


def initial_range(config: Mapping, method: str) -> tuple[int, int]:
    """The trials of the first round, as the first and last index: every listed trial, or the
    ladder's initial rungs."""
    tuning = config["tuning"]
    if "ladder" not in tuning:
        return 0, len(tuning["trials"][method]) - 1
    ladder = tuning["ladder"]
    return ladder["max_extensions"], ladder["max_extensions"] + ladder["rungs"] - 1
