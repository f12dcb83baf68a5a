"""Schema errors in words: what a value that fits none of a oneOf/anyOf's alternatives should have been.

jsonschema reports such a value as "-5 is not valid under any of the given schemas", which names neither what
was wrong nor what is allowed. Here each alternative is described from its own sub-schema (type, bounds, enum or
const, pattern, a list's items, a mapping's keys and values, and the alternative's `description`), so that the
message says what to write instead::

    splits.pool_size: -5 is not allowed; expected a positive integer, null (the whole dataset), or a mapping
    dataset → positive integer or null (the whole dataset)

A mapping or a list that fits the type of exactly one alternative is reported by that alternative's own errors
instead (``splits.pool_size.cifar10: -5 is not allowed; ...``): the problem is inside it, not its shape.
"""

from __future__ import annotations

from typing import Any, Iterable

COMBINATORS = ("oneOf", "anyOf")
_MAX_REF_DEPTH = 32  # a $ref chain longer than this is a cycle


def is_unmatched_combinator(error) -> bool:
    """Whether `error` is a value that fits none of a oneOf/anyOf's alternatives (its context holds each one's
    errors; a oneOf that several alternatives fit has none, and keeps jsonschema's message)."""
    return error.validator in COMBINATORS and bool(error.context)


def located_messages(error, root: dict) -> list[tuple[tuple, str]]:
    """(key path, message) of one schema error; a oneOf/anyOf failure in words (see the module doc)."""
    # An error of propertyNames is about a key of the mapping at the error's path, not about a value there.
    is_key = "propertyNames" in list(error.absolute_schema_path)[-3:]
    if not is_unmatched_combinator(error):
        return [(tuple(error.absolute_path), f"key {error.message}" if is_key else error.message)]
    alternatives = [_resolve(alternative, root) for alternative in error.validator_value]
    fitting = [index for index, alternative in enumerate(alternatives)
               if _json_types(error.instance) & _accepted_types(alternative, root)]
    if isinstance(error.instance, (dict, list)) and len(fitting) == 1:
        # The shape is right (a mapping where a mapping may stand): report what is wrong inside it.
        inner = [sub for sub in error.context if sub.relative_schema_path and sub.relative_schema_path[0] == fitting[0]]
        if inner:
            return [message for sub in inner for message in located_messages(sub, root)]
    value = f"key {_literal(error.instance)}" if is_key else _literal(error.instance)
    expected = _join([describe(alternative, root, alternative=True) for alternative in alternatives], "or")
    return [(tuple(error.absolute_path), f"{value} is not allowed; expected {expected}")]


def describe(schema: Any, root: dict, alternative: bool = False) -> str:
    """What `schema` allows, in words ("a positive integer", "one of 'mean', 'median'"); an `alternative` of a
    oneOf/anyOf is followed by its `description` in parentheses, which says what that choice means."""
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return "any value" if schema is True else "no value"
    text = _shape(schema, root)
    description = schema.get("description")
    return f"{text} ({' '.join(str(description).split())})" if alternative and description else text


def _shape(schema: dict, root: dict) -> str:
    if "const" in schema:
        return _literal(schema["const"])
    if "enum" in schema:
        values = ", ".join(_literal(value) for value in schema["enum"])
        choices = values if len(schema["enum"]) == 1 else f"one of {values}"
        return f"a {schema['title']} ({choices})" if "title" in schema else choices
    for combinator in COMBINATORS:
        if combinator in schema:
            return _join([describe(branch, root, alternative=True) for branch in schema[combinator]], "or")
    types = schema.get("type")
    if isinstance(types, list):
        return _join([_typed(dict(schema, type=kind), root) for kind in types], "or")
    return _typed(schema, root)


def _typed(schema: dict, root: dict) -> str:
    kind = schema.get("type")
    if kind == "null":
        return "null"
    if kind == "boolean":
        return "true or false"
    if kind in ("integer", "number") or (kind is None and _bounds(schema) != (None, None, None, None)):
        return _number(kind or "number", schema)
    if kind == "string":
        text = "a non-empty string" if schema.get("minLength", 0) >= 1 else "a string"
        return f"{text} matching {schema['pattern']}" if "pattern" in schema else text
    if kind == "array":
        text = "a non-empty list" if schema.get("minItems", 0) >= 1 else "a list"
        items = schema.get("items")
        return f"{text} whose items are each {describe(items, root)}" if isinstance(items, dict) else text
    if kind == "object":
        return _mapping(schema, root)
    return "a value of another shape (see params.schema.yaml)"


def _mapping(schema: dict, root: dict) -> str:
    values = schema.get("additionalProperties")
    if isinstance(values, dict):
        keys = _resolve(schema.get("propertyNames", {}), root)
        key = keys.get("title", "key") if isinstance(keys, dict) else "key"
        return f"a mapping {key} → {_without_article(describe(values, root))}"
    if schema.get("properties"):
        return f"a mapping with the keys {', '.join(schema['properties'])}"
    return "a mapping"


def _bounds(schema: dict) -> tuple:
    return (schema.get("minimum"), schema.get("exclusiveMinimum"), schema.get("maximum"),
            schema.get("exclusiveMaximum"))


def _number(kind: str, schema: dict) -> str:
    """"a positive integer", "a non-negative number", "a number in (0, 1)", "an integer of at least 8"."""
    noun = "integer" if kind == "integer" else "number"
    low, low_open, high, high_open = _bounds(schema)
    if high is None and high_open is None:
        if low_open == 0 or (noun == "integer" and low == 1):
            return f"a positive {noun}"
        if low == 0:
            return f"a non-negative {noun}"
        if low is not None:
            return f"{_article(noun)} of at least {low}"
        return f"{_article(noun)} above {low_open}" if low_open is not None else _article(noun)
    if low is None and low_open is None:
        return f"{_article(noun)} below {high_open}" if high_open is not None else f"{_article(noun)} of at most {high}"
    left, lower = ("(", low_open) if low_open is not None else ("[", low)
    right, upper = (")", high_open) if high_open is not None else ("]", high)
    return f"{_article(noun)} in {left}{lower}, {upper}{right}"


def _resolve(schema: Any, root: dict) -> Any:
    """`schema` with its `$ref` followed (to "#/..." in `root`); the referring schema's own keys (a description
    beside the $ref) win over the target's."""
    for _ in range(_MAX_REF_DEPTH):
        if not (isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/")):
            return schema
        target: Any = root
        for part in schema["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        own = {key: value for key, value in schema.items() if key != "$ref"}
        schema = {**target, **own} if isinstance(target, dict) else target
    return schema


def _accepted_types(schema: Any, root: dict) -> set[str]:
    """The JSON types a schema can accept at all (all of them when it does not restrict the type)."""
    everything = {"null", "boolean", "integer", "number", "string", "array", "object"}
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return everything if schema is True else set()
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return set(types) | ({"integer"} if "number" in types else set())
    if "const" in schema or "enum" in schema:
        values = [schema["const"]] if "const" in schema else schema["enum"]
        return set().union(*(_json_types(value) for value in values)) if values else set()
    for combinator in COMBINATORS:
        if combinator in schema:
            return set().union(*(_accepted_types(branch, root) for branch in schema[combinator]))
    return everything


def _json_types(value: Any) -> set[str]:
    if value is None:
        return {"null"}
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return {"integer", "number"}
    if isinstance(value, float):
        return {"number"}
    if isinstance(value, str):
        return {"string"}
    return {"array"} if isinstance(value, list) else {"object"} if isinstance(value, dict) else set()


def _literal(value: Any) -> str:
    """A value as params.yaml would hold it: null, true, 'text', -5."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _article(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _without_article(text: str) -> str:
    for article in ("a ", "an "):
        if text.startswith(article):
            return text[len(article):]
    return text


def _join(parts: Iterable[str], conjunction: str) -> str:
    """"A", "A or B", "A, B, or C" (the serial comma keeps alternatives that contain "or" apart)."""
    parts = list(dict.fromkeys(parts))
    if len(parts) <= 2:
        return f" {conjunction} ".join(parts)
    return f"{', '.join(parts[:-1])}, {conjunction} {parts[-1]}"
