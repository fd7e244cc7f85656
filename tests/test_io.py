"""Atomic writes and folder locks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kdbench.errors import UserError
from kdbench.io import atomic_path, atomic_write_json, folder_lock


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_written_file_has_the_ordinary_mode(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = atomic_write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
    assert path.read_text() == '{\n  "a": 1\n}\n'


def test_nan_is_refused_rather_than_written_as_invalid_json(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "r.json", {"a": float("nan")})
    assert not (tmp_path / "r.json").exists()


def test_second_writer_of_a_folder_is_refused(tmp_path: Path) -> None:
    with (
        folder_lock(tmp_path, "kdbench run"),
        pytest.raises(UserError, match="another kdbench run is writing this folder"),
        folder_lock(tmp_path, "kdbench run"),
    ):
        pass
    with folder_lock(tmp_path, "kdbench run"):  # released after the first finished
        pass
