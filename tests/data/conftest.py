"""Derived files (doc offset indexes, BM25 indexes) go to one temporary cache per session."""

from __future__ import annotations

from tests.helpers import cache_in_tmp, kdbench_cache  # noqa: F401 (fixtures)
