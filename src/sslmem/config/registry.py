"""The registry of cross-field rules: :func:`cross_field_rule` registers a function of the merged settings.

The built-in rules are in :mod:`sslmem.config.rules` (which re-exports the decorator); a study module registers
its own beside its code, with no edit elsewhere::

    from sslmem.config.rules import cross_field_rule

    @cross_field_rule
    def check_my_study(settings): ...

Rules run in registration order, the ones that look at files (``reads_files=True``) last. The source file of
every module that registers a rule is part of the validation cache's key (:mod:`sslmem.config.cache`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping


@dataclass(frozen=True)
class CrossFieldRule:
    """A registered rule: `check(settings)` raises ConfigError; `reads_files` rules run on every load."""

    check: Callable[[Mapping], None]
    reads_files: bool = False

    @property
    def name(self) -> str:
        return f"{self.check.__module__}.{self.check.__qualname__}"


_RULES: list[CrossFieldRule] = []


def cross_field_rule(check: Callable[[Mapping], None] | None = None, *, reads_files: bool = False):
    """Register `check(settings)` as a cross-field rule (as `@cross_field_rule` or
    `@cross_field_rule(reads_files=True)`). Registering a function of the same name again replaces it."""

    def register(function: Callable[[Mapping], None]) -> Callable[[Mapping], None]:
        rule = CrossFieldRule(function, reads_files)
        _RULES[:] = [existing for existing in _RULES if existing.name != rule.name]
        _RULES.append(rule)
        return function

    return register(check) if check is not None else register


def _import_studies() -> None:
    """Import every module of sslmem.studies, so that their rules are registered before any rule runs."""
    import importlib
    import pkgutil

    studies = importlib.import_module("sslmem.studies")
    for module in pkgutil.iter_modules(studies.__path__):
        importlib.import_module(f"sslmem.studies.{module.name}")


def registered_rules() -> tuple[CrossFieldRule, ...]:
    """The rules in the order they run: settings rules in registration order, then the file rules (every study
    module is imported first, so its own rules are among them)."""
    _import_studies()
    return tuple(rule for rule in _RULES if not rule.reads_files) + tuple(rule for rule in _RULES if rule.reads_files)
