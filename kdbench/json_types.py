"""The types of JSON values kdbench writes and reads (result files, configs, histories).

A producer returns `JsonObject`; a reader takes `Mapping[str, object]` and checks what it reads
(or turns the whole object into a typed record: `ProfileResult.from_dict`, ...). `Any` hides both.

>>> value: JsonObject = {"model": "dot", "p50_ms": [1.5, 2.0], "warnings": None}
>>> is_json_object(value), is_json_object([1])
(True, False)
"""

from __future__ import annotations

from typing import TypeGuard

JsonScalar = str | int | float | bool | None
JsonValue = JsonScalar | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject = dict[str, JsonValue]


def is_json_object(value: object) -> TypeGuard[JsonObject]:
    """True for a dict with string keys (what `json.load` gives for an object)."""
    return isinstance(value, dict) and all(isinstance(key, str) for key in value)


def json_value(value: object) -> JsonValue:
    """`value` checked to be JSON all the way down (a TypedDict record, a list of them), so a
    typed record can sit in a `JsonObject`; a value JSON cannot hold raises TypeError.

    >>> json_value({"kd": "a", "rows": [{"p": 0.5}]})
    {'kd': 'a', 'rows': [{'p': 0.5}]}
    """
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: json_value(item) for key, item in value.items()}
    raise TypeError(f"not a JSON value: {type(value).__name__}")
