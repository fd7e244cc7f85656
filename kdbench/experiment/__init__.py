"""`kdbench run PROFILE`: an experiment as an ordered list of resumable stages.

- `engine.py`: the `Stage`, its hash, when a finished stage is skipped, the plan table, the run
  (lock, progress). It knows nothing of profiles.
- `inputs.py`: the profile's paths resolved (`Experiment`) and checked before anything runs.
- `teachers.py`, `students.py`, `evaluation.py`, `profiling.py`, `summary.py`: the stage
  builders, one module per kind of stage, in the order they run.
- `plan.py`: `plan(profile, path)` puts them together; `run_experiment` runs them.

Everything is written under `results/<profile>/` (or `[experiment].output`).
"""

from kdbench.experiment.engine import Stage
from kdbench.experiment.plan import plan, run_experiment

__all__ = ["Stage", "plan", "run_experiment"]
