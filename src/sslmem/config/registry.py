"""The registry of cross-field rules: :func:`cross_field_rule` registers a function of the merged settings.

The built-in rules are in :mod:`sslmem.config.rules`. A study plugin does not register here: it declares
``VALIDATORS`` in its module, and :func:`sslmem.plan.load_settings` passes them to :func:`sslmem.config.load`
(so that the config package never imports a study).

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


def registered_rules() -> tuple[CrossFieldRule, ...]:
    """The rules in the order they run: settings rules in registration order, then the file rules. (The study
    plugins' validators are not registered here: the layer above passes them to :func:`sslmem.config.load`.)"""
    return tuple(rule for rule in _RULES if not rule.reads_files) + tuple(rule for rule in _RULES if rule.reads_files)
