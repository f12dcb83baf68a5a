"""What an encoder's role says, for the builders that read a study's files: the removal and coreset encoders'
roles (``drop_<top|random>_<k>_of_a``, ``keep_<top|random>_<percent>pct_of_a``) and the dynamics study's epoch
folders (``.../epoch<e>/...``). Here, below both the studies that name their encoders so and the report builders
that parse the names, so that neither imports the other."""

from __future__ import annotations

import re

# The ranked half of the halves study: the removal and coreset studies retrain variants of it (their reference).
HALF_A = "half_a"
REMOVAL_ROLE = re.compile(r"^drop_(top|random)_(\d+)_of_a$")
CORESET_ROLE = re.compile(r"^keep_(top|random)_(\d+)pct_of_a$")
_EPOCH_IN_PATH = re.compile(r"studies/dynamics/epoch(\d+)/")


def removal_role(selection: str, k: int) -> str:
    return f"drop_{selection}_{k}_of_a"


def parse_removal_role(role: str) -> tuple[str, int]:
    """(selection, k) of a removal encoder's role; ("none", 0) for the half-A reference."""
    if role == HALF_A:
        return "none", 0
    match = REMOVAL_ROLE.match(role)
    if not match:
        raise ValueError(f"{role!r} is not a removal encoder (drop_<top|random>_<k>_of_a) nor {HALF_A!r}")
    return match.group(1), int(match.group(2))


def percent(fraction: float) -> int:
    return int(round(100 * fraction))


def coreset_role(selection: str, fraction: float) -> str:
    return f"keep_{selection}_{percent(fraction)}pct_of_a"


def parse_coreset_role(role: str) -> tuple[str, int]:
    """(selection, percent kept) of a coreset encoder's role; ("all", 100) for the half-A reference."""
    if role == HALF_A:
        return "all", 100
    match = CORESET_ROLE.match(role)
    if not match:
        raise ValueError(f"{role!r} is not a coreset encoder (keep_<top|random>_<percent>pct_of_a) nor {HALF_A!r}")
    return match.group(1), int(match.group(2))


def epoch_of(path) -> int:
    """The snapshot epoch a file of the dynamics study's per-epoch layout belongs to (``.../epoch<e>/...``)."""
    found = _EPOCH_IN_PATH.search(str(path).replace("\\", "/"))
    if found is None:
        raise ValueError(f"{path}: not a file of the dynamics study's per-epoch layout (results/studies/dynamics/"
                         "epoch<e>/...)")
    return int(found.group(1))


# Table 8's row of the training augmentation itself (the core scores), beside the measurement view families.
TRAINING_FAMILY = "training"
