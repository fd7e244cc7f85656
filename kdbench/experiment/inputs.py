"""A profile's inputs: paths resolved against the profile, and checked before any stage runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdbench.backends import BACKENDS
from kdbench.config import ProfileFile, StudentConfig, TeacherSection
from kdbench.data.irds import names_dataset_part
from kdbench.data.load import folder_splits, qrels_file
from kdbench.data.qrels import read_qrels
from kdbench.errors import UserError, stop_exception
from kdbench.evaluate.metrics import check_computable, chosen_measures
from kdbench.hashing import file_digest
from kdbench.options import Mining, as_options, group_values, hashed_settings


def resolve_path(path: str, profile_path: Path) -> str:
    """Profile paths are relative to the working directory, or else to the profile's folder."""
    if not path:
        return path
    p = Path(path)
    if p.is_absolute() or p.exists():
        return str(p)
    beside = profile_path.parent / p
    return str(beside) if beside.exists() else str(p)


def check_inputs(profile: ProfileFile, profile_path: Path) -> None:
    """Before any stage runs: the data, splits, files and model folders the profile names exist.

    Each error names the profile key, so a typo costs seconds, not a teacher's training.
    A hub id is left to its stage (checking it may need the network); an ir_datasets id
    must be registered, its files are checked when its stage reads them.
    """
    _check_data(profile, profile_path)
    _check_files(profile, profile_path)
    if profile.profile.enabled:
        # A missing GPU or library would otherwise surface only after every model is trained.
        _check_backends(profile, profile_path)


def _error(profile_path: Path, key: str, message: str) -> UserError:
    return UserError(f"{profile_path}: {key}: {message}")


def _check_data(profile: ProfileFile, profile_path: Path) -> None:

    data = profile.data
    source = resolve_path(data.source, profile_path)
    folder = Path(source)
    if folder.is_dir():
        splits = folder_splits(folder)
        needed = [(f"data.test_splits[{i}]", split) for i, split in enumerate(data.test_splits)]
        if profile.teacher.model or any(s.train for s in profile.students):
            needed.insert(0, ("data.train_split", data.train_split))
        for key, split in needed:
            if split not in splits:
                raise _error(
                    profile_path,
                    key,
                    f"{source} has no qrels for split {split!r} (it has: {', '.join(splits) or 'none'})",
                )
        if profile.evaluate.measures:
            _check_measures(profile, profile_path, folder)
    elif folder.exists():
        raise _error(
            profile_path,
            "data.source",
            f"{source} is a file; name the collection folder that holds it",
        )
    elif source.startswith((".", "/", "~")):
        raise _error(profile_path, "data.source", f"no such folder {source}")
    elif not _is_irds_id(source):
        raise _error(
            profile_path,
            "data.source",
            f"{source}: not a folder and not a registered ir_datasets id (e.g. beir/scifact)",
        )


def _check_measures(profile: ProfileFile, profile_path: Path, folder: Path) -> None:
    """The measures compute on each test split's qrels (a provider may refuse some qrels)."""
    chosen = chosen_measures(profile.evaluate.measures)
    for split in profile.data.test_splits:
        path = qrels_file(folder, split)
        if path is None:
            continue
        try:
            check_computable(chosen, read_qrels(path))
        except UserError as error:
            raise _error(profile_path, "evaluate.measures", f"{error} (split {split})") from None


def _check_files(profile: ProfileFile, profile_path: Path) -> None:
    files = [("data.triples", profile.data.triples), ("first_stage.run", profile.first_stage.run)]
    files += [(f"teacher.scores[{i}]", s) for i, s in enumerate(profile.teacher.scores)]
    files += [
        (f"students[{i}].quality_from", s.quality_from) for i, s in enumerate(profile.students)
    ]
    for key, name in files:
        if (
            name
            and not names_dataset_part(name)
            and not Path(resolve_path(name, profile_path)).is_file()
        ):
            raise _error(profile_path, key, f"no such file {name}")
    models = [(f"students[{i}].model", s.model) for i, s in enumerate(profile.students)]
    if profile.teacher.model and not profile.teacher.scores:
        models.append(("teacher.model", profile.teacher.model))
    for key, name in models:
        path = Path(resolve_path(name, profile_path)).expanduser()
        looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1
        if looks_like_path and not path.exists():
            raise _error(profile_path, key, f"no such model folder {name}")
        if path.exists() and not path.is_dir():
            raise _error(
                profile_path, key, f"{name} is a file; name the model folder that holds config.json"
            )


def _check_backends(profile: ProfileFile, profile_path: Path) -> None:

    backends = {b for s in profile.students for b in s.backends} | {
        name for name, _ in profile.profile.backends
    }
    for device in profile.profile.devices:
        for backend in sorted(backends):
            info = BACKENDS[backend.partition(":")[0]]  # onnx:int8 pins a precision
            reason = info.missing(device)
            if reason is not None:
                raise _error(
                    profile_path,
                    "profile",
                    f"backend {backend!r} on device {device!r}: {reason}; {info.install}",
                )


def _is_irds_id(source: str) -> bool:
    """A registered ir_datasets id, or the prefix of one (beir/scifact for beir/scifact/test)."""
    import logging

    import ir_datasets

    logging.getLogger("ir_datasets").setLevel(logging.WARNING)
    return any(
        name == source or name.startswith(source + "/") for name in ir_datasets.registry._registered
    )


@dataclass(frozen=True)
class Experiment:
    """What every stage builder reads: the profile, its file, and its inputs resolved."""

    profile: ProfileFile
    path: Path  # the profile file
    source: str  # data.source: a folder, or else an ir_datasets id as written
    triples: str  # data.triples resolved ("" = mined)

    @classmethod
    def of(cls, profile: ProfileFile, path: Path) -> Experiment:
        data = profile.data
        return cls(profile, path, resolve_path(data.source, path), resolve_path(data.triples, path))

    @property
    def out(self) -> Path:
        return self.profile.output_dir

    def resolve(self, path: str) -> str:
        return resolve_path(path, self.path)

    @property
    def train_device(self) -> str:
        """Training uses the GPU only when the profile is timed on one."""
        return "cpu" if "cuda" not in self.profile.profile.devices else "auto"

    def mining(self) -> Mining:
        """The triples and dev slice every training and teacher scoring of the profile shares."""
        data = self.profile.data
        return Mining(
            mine_depth=data.mine_depth,
            triples_per_positive=data.triples_per_positive,
            dev_queries=data.dev_queries,
            seed=self.profile.experiment.seed,
        )

    def hashed_mining(self) -> dict[str, object]:
        """The mining settings for a stage config (left out at their defaults, see hashed_settings)."""
        settings = hashed_settings(self.profile.data)
        return {
            name: settings[name]
            for name in ("triples_per_positive", "mine_depth")
            if name in settings
        }

    def hashed_training_inputs(self) -> dict[str, object]:
        """What a training stage's hash holds of the data: source, triples (and their content),
        seed and mining."""
        return {
            "source": self.source,
            "triples": self.triples,
            "triples_digest": file_digest(self.triples) if self.triples else "",
            "seed": self.profile.experiment.seed,
            **self.hashed_mining(),
        }

    def training(
        self, folder: Path, section: TeacherSection | StudentConfig, **changes: Any
    ) -> Callable[[], None]:
        """The action that trains `section` (the [teacher] table or a [[students]] entry) into
        `folder` on the profile's data and mining; `changes` set or override options."""

        def action() -> None:
            from kdbench.train import TrainConfig, train

            options = {
                **as_options(section, TrainConfig),
                **group_values(Mining, self.mining()),
                **changes,
            }
            config = TrainConfig(
                output=str(folder),
                data=self.source,
                split=self.profile.data.train_split,
                triples=self.triples or None,
                device=self.train_device,
                resume=True,
                **options,
            )
            result = train(config)
            if result.status == "interrupted":
                raise stop_exception(result.signal)

        return action
