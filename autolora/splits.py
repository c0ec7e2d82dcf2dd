"""How a task's training rows are split, for every stage alike: the search's seeded
(search-train, search-validation) split, which the search, the grid's candidates and the tuning
trials share, and a budget pilot's holdout (``data.pilot_holdout``), the same split taken once in
the prepare stage."""

from __future__ import annotations

from datasets import Dataset, DatasetDict


def split_for_search(train: Dataset, val_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Seeded (search-train, search-validation) split of the task's training set."""
    parts = train.train_test_split(test_size=val_fraction, seed=seed, shuffle=True)
    return parts["train"], parts["test"]


def hold_out(data: DatasetDict, fraction: float, seed: int) -> DatasetDict:
    """A pilot's splits (``data.pilot_holdout``): the search-validation rows of seed ``seed``'s
    split of the training set become the evaluation split, its search-train rows the training
    split. The task's own evaluation split (the one the tables report) is left out, so a pilot
    that chooses a budget from these scores never sees it."""
    search_train, search_validation = split_for_search(data["train"], fraction, seed)
    return DatasetDict(train=search_train, eval=search_validation)
