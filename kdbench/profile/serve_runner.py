"""`kdbench profile --scenario server|offline`: a real model served under traffic.

The model and backends are prepared as for any profile (`kdbench.profile.runner`: the
same parity gate); then each passing backend serves the architecture's per-query
scenario (`Scenario.serving`: dot encodes the query and searches the index, a re-ranker
scores its k candidates) to the load generator of `kdbench.profile.serving`, with the real
test queries of `--data`. One cell per backend and scenario cell (depth, length); its
`serving` entry holds the settings, every level run and the search's answer.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from kdbench.env import usable_cores
from kdbench.errors import UserError
from kdbench.profile.config import ProfileConfig
from kdbench.profile.measurements import ProfileResult
from kdbench.profile.runner import (
    Log,
    _cell_head,
    _environment,
    _prepare,
    check_available,
    profile_result,
)
from kdbench.profile.scenarios import CellShape
from kdbench.profile.serving_cell import UNITS, serve_into_cell, server_settings


def worker_threads(config: ProfileConfig, cores: int) -> int:
    """Threads per worker: --threads, else the cores shared out; workers x threads <= cores."""
    threads = config.threads or max(1, cores // config.workers)
    if config.workers * threads > cores:
        raise UserError(
            f"--workers {config.workers} x --threads {threads} = {config.workers * threads} "
            f"threads exceed the {cores} cores here; lower --workers or --threads"
        )
    return threads


def run_serving(
    config: ProfileConfig, log: Log | None = None, *, allow_unread: bool = False
) -> ProfileResult:
    """Serve `config.model` under the `config.scenario` load; returns the `profile` result."""
    say = log or (lambda message: None)
    if config.baseline_arch is not None:
        raise UserError(f"--baseline-arch does not apply to --scenario {config.scenario}")
    bound = config.serving_bound()
    check_available(config)
    cores = usable_cores()
    threads = worker_threads(config, cores)
    torch.set_num_threads(threads)
    served = replace(config, scenario=None, threads=threads)
    prep = _prepare(served, threads, say, load=None if allow_unread else str(config.scenario))
    environment = _environment(threads, config.device)
    environment["threads"].update(workers=config.workers, cores=cores)
    settings = server_settings(config)
    cells = []
    for shape in prep.scenario.cells:
        for variant in prep.variants:
            cell = _cell_head(variant, prep.ranker.arch, prep.scenario, shape)
            cell.scenario = str(config.scenario)
            if variant.runner is None:
                cell.status = "error" if variant.error else "failed_parity"
            else:
                assert variant.runner is not None
                serve = prep.scenario.serving(shape, variant.runner)
                label = f"{prep.ranker.arch} {variant.label} {config_label(shape)}"
                serve_into_cell(
                    cell, serve, prep.inputs.queries, config, settings, bound, label, say
                )
                assert cell.serving is not None
                cell.serving["served"] = prep.scenario_name
            cells.append(cell)
    described = {**prep.scenario.describe(), "load": config.scenario, "served": prep.scenario_name}
    scenario_name = str(config.scenario)
    return profile_result(config, prep, cells, environment, scenario_name, described, UNITS)


def config_label(shape: CellShape) -> str:
    return f"seq {shape.seq_len}" + (f" depth {shape.depth}" if shape.depth else "")
