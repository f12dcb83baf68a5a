"""Reading params.yaml, merging the preset over `common`, and validating the result.

Validation happens in two layers, both before any compute:

1. the JSON schema (src/sslmem/params.schema.yaml, linked from workflow/schemas/), for types, ranges and enums,
   its errors in words (:mod:`sslmem.config.schema_messages`: what each alternative of a oneOf/anyOf allows);
2. the cross-field rules of :mod:`sslmem.config.rules` (one module per part of params.yaml), for what a schema
   cannot say, sizes that must fit the split's subsets among them.

:func:`resolve` always validates fully. :func:`load` (what every job calls) validates once per params file,
preset and validator version: it keeps the validated settings in a cache (:mod:`sslmem.config.cache`) and on a
hit only re-checks the dataset roots, without jsonschema, torch or timm.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Mapping

from sslmem.config import cache, schema_messages
from sslmem.config.base import ConfigError, deep_merge
from sslmem.config.rules import check_file_rules, check_rules

__all__ = ["ConfigError", "deep_merge", "load", "load_schema", "resolve", "schema_path", "validate_file_shape"]

PACKAGE_DIR = Path(__file__).resolve().parents[1]
# Shipped inside the package (so a non-editable install validates too); workflow/schemas/params.schema.yaml,
# which Snakemake reads, is a symlink to it.
SCHEMA_PATH_CANDIDATES = (PACKAGE_DIR / "params.schema.yaml",)


def schema_path() -> Path:
    for candidate in SCHEMA_PATH_CANDIDATES:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"params schema not found in {[str(c) for c in SCHEMA_PATH_CANDIDATES]}")


def load_schema(study_schemas: Mapping[str, dict] | None = None) -> dict:
    """The params schema, with the sections the study plugins declare themselves (``studies.<name>``: passed in
    by the layer above, :func:`sslmem.plan.load_settings`) added under ``studies``."""
    import yaml

    schema = yaml.safe_load(schema_path().read_text())
    studies = schema["$defs"]["settings"]["properties"]["studies"]
    if study_schemas is None:
        # Validated without the plugins (the config package alone): a section of a plugin that declares its own
        # schema is an object here; sslmem.plan.load_settings validates it, and refuses unknown study names.
        studies["additionalProperties"] = {"type": "object"}
    for name, section in (study_schemas or {}).items():
        if name in studies["properties"]:
            raise ValueError(f"study {name!r} declares the schema of studies.{name}, which params.schema.yaml has too")
        studies["properties"][name] = section
    return schema


def _key_path(error_path) -> str:
    return ".".join(str(part) for part in error_path) or "<top level>"


def _declared_keys(subschema: Any, root: dict) -> set[str]:
    """Every property name `subschema` declares, through `$ref`, `allOf`/`anyOf`/`oneOf` and `then`/`else`."""
    if not isinstance(subschema, dict):
        return set()
    keys = set(subschema.get("properties", {}))
    reference = subschema.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/"):
        target: Any = root
        for part in reference[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        keys |= _declared_keys(target, root)
    for combinator in ("allOf", "anyOf", "oneOf"):
        for branch in subschema.get(combinator, []):
            keys |= _declared_keys(branch, root)
    for branch in ("then", "else"):
        keys |= _declared_keys(subschema.get(branch), root)
    return keys


def _unknown_keys(error, root: dict) -> list[str]:
    """The keys of the object an additional/unevaluated-properties error is about that its schema does not declare."""
    declared = _declared_keys(error.schema, root)
    return sorted(key for key in error.instance if key not in declared) if isinstance(error.instance, dict) else []


def _typo_messages(errors: list, root: dict) -> tuple[list[str], set[int]]:
    """One message per unknown key, naming the declared key it most resembles, and the ids of the errors the
    messages replace: the unknown-key error itself and a `required` error for the key the typo was meant to be
    (a typo'd `warmup_epoch` both adds an unknown key and drops the required `warmup_epochs`)."""
    import difflib

    messages, replaced = [], set()
    for error in errors:
        if error.validator not in ("additionalProperties", "unevaluatedProperties"):
            continue
        declared = sorted(_declared_keys(error.schema, root))
        unknown = _unknown_keys(error, root)
        if not unknown:
            continue
        replaced.add(id(error))
        for key in unknown:
            close = difflib.get_close_matches(key, declared, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"the keys here are {declared}"
            messages.append((tuple(error.absolute_path), f"unknown key {key!r}; {hint}"))
            for other in errors:
                if (other.validator == "required" and tuple(other.absolute_path) == tuple(error.absolute_path)
                        and close and repr(close[0]) in other.message):
                    replaced.add(id(other))
    return messages, replaced


def _schema_errors(instance: Any, schema: dict, prefix: str) -> list[str]:
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = list(validator.iter_errors(instance))
    # A bad value inside an `allOf` (the method recipes) drops that branch's annotations, so
    # unevaluatedProperties then lists every key of the object as "unexpected", valid or not: keys are
    # therefore compared with what the schema declares, and only the undeclared ones are reported.
    typos, replaced = _typo_messages(errors, schema)
    located = list(typos)
    for error in errors:
        if id(error) in replaced or error.validator in ("additionalProperties", "unevaluatedProperties"):
            continue
        # A value that fits none of a oneOf/anyOf's alternatives is told what each alternative allows.
        located += schema_messages.located_messages(error, schema)
    messages = []
    for path, message in sorted(located, key=lambda item: list(map(str, item[0]))):
        where = _key_path([prefix, *path] if prefix else path)
        messages.append(f"{where}: {message}")
    return messages


def _join_errors(header: str, errors: list[str]) -> str:
    # One error: one line (what `sslmem check` prints); several: one indented line each.
    return f"{header}: {errors[0]}" if len(errors) == 1 else f"{header}:\n  " + "\n  ".join(errors)


def validate_file_shape(raw: Mapping, study_schemas: Mapping[str, dict] | None = None) -> None:
    """Check params.yaml's top level (preset/common/presets) against the schema."""
    errors = _schema_errors(raw, load_schema(study_schemas), "")
    if errors:
        raise ConfigError(_join_errors("params.yaml is invalid", errors))


def resolve(raw: Mapping, preset: str | None = None, check_roots: bool = True, rules: tuple = (),
            study_schemas: Mapping[str, dict] | None = None) -> dict:
    """Merge `common` with the chosen preset and validate the result (schema + cross-field rules + `rules`, the
    validators of the layer above: the study plugins')."""
    validate_file_shape(raw, study_schemas)
    preset = preset or raw["preset"]
    presets = raw["presets"]
    if preset not in presets:
        raise ConfigError(
            f"preset: unknown preset {preset!r}; params.yaml defines {sorted(presets)}"
        )
    settings = deep_merge(raw["common"], presets[preset])
    schema = load_schema(study_schemas)
    settings_schema = {"$ref": "#/$defs/settings", "$defs": schema["$defs"]}
    errors = _schema_errors(settings, settings_schema, f"presets.{preset}")
    if errors:
        raise ConfigError(_join_errors(f"params.yaml (preset {preset!r} merged over common) is invalid", errors))
    settings["preset"] = preset
    # Which preset's files are at the top of the repository (sslmem.artifacts.preset_root): the others in runs/.
    settings["root_preset"] = raw.get("root_preset", "default")
    _check_setup_recipes(settings, schema, preset)
    check_rules(settings, check_roots=check_roots, extra=tuple(rules))
    return settings


def _check_setup_recipes(settings: Mapping, schema: dict, preset: str) -> None:
    """A setup's `recipe` is merged over `methods.<method>`; the merged recipe must pass that method's schema."""
    for index, entry in enumerate(settings["experiment"]["setups"]):
        overrides = entry.get("recipe")
        method = entry["method"]
        if not overrides or method not in settings["methods"]:
            continue
        recipe_schema = {"$ref": f"#/$defs/settings/properties/methods/properties/{method}", "$defs": schema["$defs"]}
        merged = deep_merge(settings["methods"][method], overrides)
        errors = _schema_errors(merged, recipe_schema, f"presets.{preset}.experiment.setups.{index}.recipe")
        if errors:
            raise ConfigError(_join_errors(f"a setup's recipe (merged over methods.{method}) is invalid", errors))


def _parse_params(path: Path, data: bytes) -> Any:
    import yaml

    # Decoded as Path.read_text would (locale encoding, universal newlines): the bytes hashed are the bytes parsed.
    text = io.TextIOWrapper(io.BytesIO(data)).read()
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None


def load(
    path: str | Path = "params.yaml",
    preset: str | None = None,
    overrides: Mapping | None = None,
    check_roots: bool = True,
    read_cache: bool = True,
    rules: tuple = (),
    study_schemas: Mapping[str, dict] | None = None,
) -> dict:
    """Read params.yaml, apply `overrides` (e.g. Snakemake --config), and return validated settings.

    Settings that passed a full validation before (same params bytes, preset, overrides, schema and validator
    sources) come from the validation cache in ./.sslmem-cache/ without validating again; the dataset roots
    are checked on every call that asks for it. `read_cache=False` (`sslmem check`) always validates fully;
    either way a successful validation is written to the cache. `rules`: validators beyond the config package's
    own (:func:`sslmem.plan.load_settings` passes the study plugins'; their modules are part of the cache key).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file not found: {path.resolve()}")
    data = path.read_bytes()
    key = cache.settings_key(data, preset, overrides, rules)
    settings = cache.read(key) if read_cache else None
    if settings is not None:
        if check_roots:
            check_file_rules(settings, extra=tuple(rules))
        return settings
    raw = _parse_params(path, data)
    if overrides:
        raw = deep_merge(raw, overrides)
    settings = resolve(raw, preset, check_roots=check_roots, rules=rules, study_schemas=study_schemas)
    # One validation answers for the preset as asked, by its name, and (if it is) as "the file's own preset".
    aliases = {preset, settings["preset"]} | ({None} if raw["preset"] == settings["preset"] else set())
    cache.write([cache.settings_key(data, alias, overrides, rules) for alias in aliases], settings)
    return settings
