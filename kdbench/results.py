"""The versioned result schema: JSON is the master copy, every table is rendered from it.

Every result file is one JSON object:

    {"schema": "kdbench.result", "schema_version": 1, "kind": "evaluate" | "profile" | ...,
     "created": ISO-8601 UTC, "command": the command line, "config": resolved settings,
     "environment": kdbench.env.collect_environment(), "units": {field: unit}, ...kind-specific}

Every result also carries "provenance" (kdbench.provenance): the hub revision (commit hash)
or local path of each model and the ir_datasets id of each collection its config names.

`evaluate` results add `metrics` ({"nDCG@10": float, ...}), `per_query` ({measure: {qid: float}})
and `first_stage`; `profile` results add `results` (one entry per measured cell).
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kdbench.env import collect_environment
from kdbench.errors import InputFileError, UserError
from kdbench.io import atomic_write_json
from kdbench.json_types import JsonObject, is_json_object
from kdbench.provenance import provenance

SCHEMA = "kdbench.result"
SCHEMA_VERSION = 1
KINDS = ("evaluate", "profile", "train", "teacher", "run")
# The keys every result starts with, in the order they are written.
HEADER_KEYS = (
    "schema",
    "schema_version",
    "kind",
    "created",
    "command",
    "config",
    "environment",
    "units",
)
# Written after them by kdbench versions that record it (kdbench.provenance); older results lack it.
PROVENANCE_KEY = "provenance"


def command_line() -> str:
    """The command as the user typed it (program name shortened to `kdbench`)."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in {"kdbench", "__main__.py", "cli.py"}:
        argv[0] = "kdbench"
    return shlex.join(argv)


@dataclass
class ResultHeader:
    """The fields every result file starts with; each kind adds its own after them."""

    kind: str
    config: dict[str, Any]  # the resolved settings
    environment: dict[str, Any]  # kdbench.env.collect_environment()
    created: str  # ISO-8601 UTC
    command: str  # the command line
    units: dict[str, str] = field(default_factory=dict)  # field -> unit
    # kdbench.provenance: each model's hub commit or path, each collection's ir_datasets id
    provenance: dict[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def new(
        cls,
        kind: str,
        config: Mapping[str, object],
        environment: Mapping[str, object] | None = None,
    ) -> ResultHeader:
        """A header for a result of `kind` made now, by this command, on this machine."""
        if kind not in KINDS:
            raise ValueError(f"unknown result kind {kind!r}; expected one of {KINDS}")
        return cls(
            kind=kind,
            config=dict(config),
            # a shallow copy: what the profiler adds to its parts later still shows
            environment=dict(collect_environment() if environment is None else environment),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            command=command_line(),
            provenance=_provenance(config),
        )

    def to_dict(self) -> JsonObject:
        record = {key: getattr(self, key) for key in HEADER_KEYS}
        if self.provenance:  # results from before provenance round-trip without the key
            record[PROVENANCE_KEY] = self.provenance
        return record

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ResultHeader:
        """The header of a result dict (its other keys are the caller's to read)."""
        version = data.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int):
            raise UserError(
                f"schema_version {version!r} is not a number; is this a kdbench result?"
            )
        return cls(
            kind=str(data.get("kind", "")),
            config=object_at(data, "config"),
            environment=object_at(data, "environment"),
            created=str(data.get("created", "")),
            command=str(data.get("command", "")),
            units={key: str(unit) for key, unit in object_at(data, "units").items()},
            provenance=object_at(data, PROVENANCE_KEY),  # none in results before provenance
            schema=str(data.get("schema", SCHEMA)),
            schema_version=version,
        )


def new_result(
    kind: str, config: Mapping[str, object], *, environment: Mapping[str, object] | None = None
) -> JsonObject:
    """A result skeleton of `kind` with the resolved `config` and the environment."""
    return ResultHeader.new(kind, config, environment).to_dict()


def _provenance(config: Mapping[str, object]) -> JsonObject:

    return provenance(config)


def json_object(value: object, what: str, command: str = "") -> JsonObject:
    """`value` read from a result file, checked to be a JSON object; `what` names it, and
    `command` the kdbench command that writes such results (in the error)."""
    if not is_json_object(value):
        writer = f"kdbench {command}" if command else "kdbench"
        raise UserError(f"{what} is not a JSON object; is this a result written by {writer}?")
    return value


def object_at(data: Mapping[str, object], key: str) -> JsonObject:
    """The object under `key` of a result (a copy; empty when absent)."""
    return dict(json_object(data.get(key, {}), key))


def objects_at(data: Mapping[str, object], key: str) -> list[JsonObject]:
    """The list of objects under `key` of a result (empty when absent)."""
    values = data.get(key, [])
    if not isinstance(values, list):
        raise UserError(f"{key} is not a JSON list; is this a result written by kdbench?")
    return [json_object(value, f"an entry of {key}") for value in values]


def save_result(path: str | Path, result: Mapping[str, object]) -> Path:
    """Write `result` atomically (temporary file, then rename)."""
    return atomic_write_json(path, result)


class NotFinite(ValueError):
    """A JSON number that is not finite (NaN, Infinity, 1e999): kdbench writes none."""


def _not_finite(name: str) -> float:
    raise NotFinite(name)


def _finite_float(text: str) -> float:
    """A JSON number as float, refused when it is not finite.

    >>> _finite_float("0.5")
    0.5
    """
    value = float(text)
    if not math.isfinite(value):
        raise NotFinite(text)
    return value


def load_result(path: str | Path) -> dict[str, Any]:
    """Read and check a result file; errors name the file and say what is wrong."""
    p = Path(path)
    try:  # utf-8-sig: an editor's byte-order mark is not part of the JSON
        data = json.loads(
            p.read_text(encoding="utf-8-sig"),
            parse_constant=_not_finite,
            parse_float=_finite_float,
        )
    except FileNotFoundError as exc:
        raise InputFileError(p, "no such result file; pass a file written with --output") from exc
    except NotFinite as exc:
        raise InputFileError(
            p,
            f"holds the number {exc}, which kdbench never writes (its results hold finite "
            "numbers); the file was edited or damaged: rerun the command that wrote it",
        ) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(p, f"not valid JSON ({exc}); is this a kdbench result?") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise InputFileError(p, 'not a kdbench result (no "schema": "kdbench.result")')
    version = data.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise InputFileError(
            p,
            f"schema_version {version!r} is newer than this kdbench understands ({SCHEMA_VERSION}); upgrade kdbench",
        )
    return data
