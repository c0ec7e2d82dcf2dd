"""The tuning protocol's trials, as the config defines them (config ``tuning``): which methods are
tuned, the trials each may run, how a trial is named (``tune_<method>_t<i>``, a method of its own
in ``autolora.methods``) and what it changes in the method's config view. Listed trials are the
same number for every trained method; a ladder (``tuning.ladder``: ``start × factor^j`` for
``rungs`` rungs) is one list of rungs for all, of which the first round tries the initial ones and
``autolora.stages.tuning`` extends past a chosen end. Under a ladder the grid is tuned as its
candidates (``grid_r{r}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

TRIAL_PATTERN = r"tune_([a-z0-9_]+)_t([0-9]+)"


def trial_method(method: str, index: int) -> str:
    return f"tune_{method}_t{index}"


def trial_of(method: str) -> tuple[str, int] | None:
    """(the tuned method, the trial's index) of ``tune_<method>_t<i>``; None for other names."""
    match = re.fullmatch(TRIAL_PATTERN, method)
    return (match.group(1), int(match.group(2))) if match else None


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
    from autolora.methods import GRID, training_of  # the registry imports this module

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


def trial_methods(config: Mapping, method: str, grid_runs: Sequence[str] = ()) -> list[str]:
    """The trial methods ``method`` may run (none where the config does not tune it)."""
    if method not in tuned_methods(config, grid_runs):
        return []
    return [trial_method(method, index) for index in range(len(tuning_trials(config, method)))]


def trial_settings(config: Mapping, method: str) -> dict:
    """What trial ``tune_<m>_t<i>`` changes in m's config view: its entry of ``tuning_trials``."""
    tuned, index = trial_of(method)
    return tuning_trials(config, tuned)[index]


def initial_range(config: Mapping, method: str) -> tuple[int, int]:
    """The trials of the first round, as the first and last index: every listed trial, or the
    ladder's initial rungs."""
    tuning = config["tuning"]
    if "ladder" not in tuning:
        return 0, len(tuning["trials"][method]) - 1
    ladder = tuning["ladder"]
    return ladder["max_extensions"], ladder["max_extensions"] + ladder["rungs"] - 1
