"""How one encoder's training set is made (torch-, numpy- and pandas-free: the plan reads it when the workflow
starts; :mod:`sslmem.pipeline.training_set` makes the set)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class TrainingSetRecipe:
    """How one encoder's training set is made: a kind of :mod:`sslmem.pipeline.training_set` (``protocol``,
    ``half``, ``drop``, ``keep``), the files it reads (argument → path) and its options (JSON-able; also the
    training-set rule's settings fingerprint)."""

    kind: str
    inputs: Mapping[str, str]
    options: Mapping
