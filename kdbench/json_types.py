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
