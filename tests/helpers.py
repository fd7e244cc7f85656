"""Helpers shared across the test suite."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


def cli_options(**values: object) -> list[str]:
    """Command-line options from keywords, in their order: `batch_size="1,4"` gives
    `["--batch-size", "1,4"]`; paths and numbers are written with `str`; `True` gives a bare flag.

    >>> cli_options(model="bm25", seq_len=16, quiet=True)
    ['--model', 'bm25', '--seq-len', '16', '--quiet']
    """
    args: list[str] = []
    for name, value in values.items():
        args.append("--" + name.replace("_", "-"))
        if value is not True:
            args.append(str(value))
    return args


def recorded_config(stage: Any, monkeypatch: Any) -> Any:
    """The library config a profile stage's action builds, without running it: `train`,
    `score_teacher`, `write_ensemble` and `evaluate` are replaced by recorders of what they get."""
    import kdbench.evaluate.pipeline
    import kdbench.results
    import kdbench.train
    import kdbench.train.ensemble

    seen: list[Any] = []

    def recorder(answer: Any) -> Any:
        def record(config: Any) -> Any:
            seen.append(config)
            return answer

        return record

    monkeypatch.setattr(kdbench.train, "train", recorder(SimpleNamespace(status="completed")))
    monkeypatch.setattr(kdbench.train, "score_teacher", recorder(None))
    monkeypatch.setattr(kdbench.train.ensemble, "write_ensemble", recorder(None))
    monkeypatch.setattr(kdbench.evaluate.pipeline, "evaluate", recorder({"config": {}}))
    monkeypatch.setattr(kdbench.results, "save_result", lambda path, result: None)
    stage.action()
    (config,) = seen
    return config
