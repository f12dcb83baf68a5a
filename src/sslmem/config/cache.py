"""The validation cache: merged settings that passed a full validation, so that each job need not validate again.

One file per key, ``./.sslmem-cache/settings-<key>.json`` (in the current working directory: the workflow's).
The key hashes everything a validation's outcome depends on: the params file's bytes, the preset as asked, any
overrides, ``sslmem.__version__``, the schema's bytes and the sources of the validators (the config package,
the registries the rules read, the studies' validators, and any module that registered a rule). The file holds its key and a SHA-256 of
the settings; a file that cannot be read, is not JSON, or whose key or digest does not match is ignored, so
the settings are validated again and the file rewritten. The dataset roots are not part of what is cached:
they can change without params.yaml changing, so :func:`sslmem.config.load` checks them on every load.

Reading imports neither torch nor jsonschema nor yaml; writing happens only after a full validation.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

CACHE_DIR_NAME = ".sslmem-cache"
_FORMAT = 1
_KEEP = 32  # newest files kept; older ones (other params versions, other presets) are removed on write

_SSLMEM_DIR = Path(__file__).resolve().parents[1]
# What decides a validation's outcome besides params.yaml: the schema, the config package, and what its rules
# read (dataset catalog, split sizes, method and arch registries), and the studies, which declare validators of
# their own and whose arithmetic some rules use (overlap levels); a file, or every .py file under a folder (its
# subpackages too: the rules live in config/rules/, whose helper modules register no rule of their own).
_VALIDATOR_FILES = ("params.schema.yaml", "config", "data/catalog.py", "data/splits.py", "models.py", "methods",
                    "studies")


def cache_dir() -> Path:
    return Path.cwd() / CACHE_DIR_NAME


def _cache_file(key: str) -> Path:
    return cache_dir() / f"settings-{key}.json"


def _validator_sources() -> list[Path]:
    from sslmem.config.registry import registered_rules

    files: list[Path] = []
    for name in _VALIDATOR_FILES:
        path = _SSLMEM_DIR / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    for rule in registered_rules():  # a study module's own rules, registered beside its code
        module_file = getattr(sys.modules.get(rule.check.__module__), "__file__", None)
        if module_file and Path(module_file).resolve() not in files:
            files.append(Path(module_file).resolve())
    # Sorted: the rules' registration order depends on which study module a process imported first (the Snakefile
    # imports some before validating), and the key must not, or every job misses the cache the workflow filled.
    return sorted(files)


def settings_key(params: bytes, preset: str | None, overrides: Mapping | None, rules: Iterable = ()) -> str:
    """The cache key of one validation: a SHA-256 over everything its outcome depends on (see the module doc),
    including which extra validators ran (`rules`: a load without the study plugins' validators is another key)."""
    import sslmem

    digest = hashlib.sha256()

    def part(blob: bytes) -> None:
        digest.update(len(blob).to_bytes(8, "big"))
        digest.update(blob)

    part(f"sslmem settings cache v{_FORMAT}".encode())
    part(sslmem.__version__.encode())
    part(json.dumps(preset).encode())
    part(json.dumps(overrides or None, sort_keys=True, default=repr).encode())
    part(params)
    part(json.dumps(sorted(f"{rule.__module__}.{rule.__qualname__}" for rule in rules)).encode())
    for path in _validator_sources():
        part(str(path.relative_to(_SSLMEM_DIR) if path.is_relative_to(_SSLMEM_DIR) else path).encode())
        try:
            part(path.read_bytes())
        except OSError:
            part(b"<missing>")
    return digest.hexdigest()


def _settings_digest(settings: Any) -> str:
    text = json.dumps(settings, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def read(key: str) -> dict | None:
    """The settings cached under `key`, or None when there are none or the file is not intact."""
    try:
        record = json.loads(_cache_file(key).read_text(encoding="utf-8"))
        settings = record["settings"]
        intact = (
            record["format"] == _FORMAT
            and record["key"] == key
            and isinstance(settings, dict)
            and record["digest"] == _settings_digest(settings)
        )
    except Exception:  # missing, unreadable, not JSON, not our layout: validate again
        return None
    return settings if intact else None


def write(keys: Iterable[str], settings: Mapping) -> None:
    """Cache validated `settings` under each key. Best effort: a failed write only costs a validation later."""
    try:
        faithful = json.loads(json.dumps(settings)) == settings
    except (TypeError, ValueError):
        faithful = False
    if not faithful:  # not JSON round-trippable (non-string keys, NaN, dates): validate every time instead
        return
    from sslmem.io import atomic_write_text  # here: keep importing this module light

    digest = _settings_digest(settings)
    for key in keys:
        record = {"format": _FORMAT, "key": key, "digest": digest, "settings": settings}
        try:
            atomic_write_text(_cache_file(key), json.dumps(record, ensure_ascii=False))
        except OSError:
            return  # e.g. a read-only working directory
    _prune()


def _prune() -> None:
    try:
        files = sorted(cache_dir().glob("settings-*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
        for old in files[_KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # another job pruned at the same time
