"""What every module of :mod:`sslmem.config` needs: the error it raises and the merge of settings trees."""

from __future__ import annotations

import copy
from typing import Mapping


class ConfigError(ValueError):
    """A setting in params.yaml is invalid; the message names the key and what is allowed."""


def deep_merge(base: Mapping, override: Mapping) -> dict:
    """Return `base` with `override` merged in; nested mappings merge, everything else is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
