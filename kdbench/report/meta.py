"""What a report says beside its rows: `ReportMeta`, which every format renders and the JSON
format writes (its "meta")."""

from __future__ import annotations

from dataclasses import dataclass, field

from kdbench.json_types import JsonObject, JsonValue
from kdbench.report.budget import Decision
from kdbench.report.scale import ScaleNotes

COMPACT = "compact"  # the main table's columns: one line per measured artifact
ALL = "all"  # ... every column


@dataclass
class ReportMeta:
    """Where the results come from (command, machine, date, data), what the report shows (its
    quality measures, the plot's and Pareto front's axes, the main table's columns) and what
    it found beside the rows (KD/no-KD pairs, predictions at scale, the budget's choice).

    >>> ReportMeta(title="t", x="p95").to_dict()["x"]
    'p95'
    """

    pairs: list[JsonObject] = field(default_factory=list)  # kdbench.report.pairs' records
    title: str = "trade-off"
    command: str = ""
    machine: str = ""
    created: str = ""
    data: JsonValue = None  # the results' collection, as their config names it
    measures: list[str] | None = None  # ir_measures strings; None: rows.SHOWN_QUALITY
    x: str = "p50"  # the cost axis (one of rows.AXES)
    y: str | None = None  # the quality axis; None: each format's default
    columns: str | list[str] = COMPACT  # COMPACT, ALL, or column names
    scale: ScaleNotes | None = None  # --scale-to / --queries-per-s
    budget: Decision | None = None  # --budget

    def to_dict(self) -> JsonObject:
        """The meta as `kdbench report --format json` writes it (scale and budget only
        when asked for)."""
        found: JsonObject = {
            "pairs": list(self.pairs),
            "title": self.title,
            "command": self.command,
            "machine": self.machine,
            "created": self.created,
            "data": self.data,
            "measures": None if self.measures is None else list(self.measures),
            "x": self.x,
            "y": self.y,
            "columns": self.columns if isinstance(self.columns, str) else list(self.columns),
        }
        if self.scale is not None:
            found["scale"] = self.scale.to_dict()
        if self.budget is not None:
            found["budget"] = self.budget.to_dict()
        return found
