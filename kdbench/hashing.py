"""One hash for settings and one for input files, so "same config" means the same thing everywhere.

A stage of `kdbench run`, a training run resumed with `--resume` and a checkpoint's record all
identify their settings by `config_hash`; an input file a stage reads enters its config by
`file_digest`, so editing the file reruns the stage.

>>> config_hash({"b": 1, "a": [1, 2]}) == config_hash({"a": [1, 2], "b": 1})
True
>>> len(config_hash({"a": 1}))
16
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def canonical_json(data: object) -> str:
    """Sorted keys, no spaces; values JSON lacks (paths, tuples' items) as their `str`."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(data: object) -> str:
    """A stable short hash of a JSON-serialisable config: 16 hex digits of its sha256."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    """Content hash of an input file (16 hex digits), or "missing" when there is none.

    A missing file is left to the stage that reads it, which fails with the file's name;
    a dry run shows it.
    """
    p = Path(path)
    if not p.is_file():
        return "missing"
    digest = hashlib.sha256()
    with p.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]
