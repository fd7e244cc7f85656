"""The training loop: AdamW, linear warm-up then linear decay, clipping, accumulation, DDP.

`train(config)` is the library entry point (`kdbench train` and `kdbench run` call it). It
returns a `TrainResult` whose `status` is "completed", "early-stopped" or "interrupted"; a
NaN/infinite loss raises `TrainingDiverged` after keeping the last good checkpoint. The run
itself is a `Trainer`; what it records is a `kdbench.train.history.History`.

Determinism: the batch of step s is a pure function of (seed, s), and every checkpoint
holds the model, optimizer, scheduler, grad scaler and RNG states, so on CPU a run resumed
from step s logs exactly the losses the uninterrupted run logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch

from kdbench import distributed
from kdbench.data.collection import Collection
from kdbench.data.runs import Run
from kdbench.errors import UserError
from kdbench.io import LOCK_FILE, OWNER_FILE, foreign_files, output_folder, reporting_no_room
from kdbench.losses.objective import Objective
from kdbench.models.base import RankerModule
from kdbench.models.checkpoint import save_checkpoint
from kdbench.models.registry import applies_to
from kdbench.results import new_result, save_result
from kdbench.train import checkpoint as ckpt
from kdbench.train.config import RESUMABLE_FIELDS, TrainConfig
from kdbench.train.history import (
    LOG_FILE,
    History,
    TeacherReport,
    Validation,
    append_log,
    read_log,
    truncate_log,
)
from kdbench.train.report import compare_teacher_student, scorer_summary
from kdbench.train.student import StudentModule, set_dropout
from kdbench.train.training_set import TrainingData, TrainingSet, load_training_set, teacher_rows
from kdbench.train.validation import validate

log = logging.getLogger("kdbench")

SUMMARY_FILE = "training.json"


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    output: Path
    status: str  # completed | early-stopped | interrupted
    steps_done: int
    summary: dict[str, Any] = field(default_factory=dict)
    signal: str | None = None  # interrupted: "SIGINT" or "SIGTERM"


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Learning-rate multiplier for optimizer step `step` (0-based): linear warm-up, then linear decay.

    Never 0, so no step is wasted: warm-up reaches 1 at step `warmup`, decay ends at 1 / (total - warmup).

    >>> [round(lr_factor(s, 2, 6), 3) for s in range(6)]
    [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]
    """
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def batch_indices(step: int, batch_size: int, size: int, seed: int) -> list[int]:
    """The training-set rows of global batch `step`: a fresh seeded permutation per epoch.

    >>> batch_indices(0, 2, 3, seed=3) + batch_indices(1, 2, 3, seed=3)  # epoch 0: 1, 2, 0; epoch 1 starts
    [1, 2, 0, 0]
    """
    rows = []
    for position in range(step * batch_size, (step + 1) * batch_size):
        epoch, offset = divmod(position, size)
        rows.append(_permutation(seed, epoch, size)[offset])
    return rows


_PERMUTATIONS: dict[tuple[int, int, int], list[int]] = {}


def _permutation(seed: int, epoch: int, size: int) -> list[int]:
    key = (seed, epoch, size)
    if key not in _PERMUTATIONS:
        order = list(range(size))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        _PERMUTATIONS.clear()  # one epoch at a time is all a run needs
        _PERMUTATIONS[key] = order
    return _PERMUTATIONS[key]


class StopSignals:
    """SIGINT/SIGTERM ask the loop to stop after the current step and save; a second SIGINT aborts."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.requested: str | None = None
        self.echo = echo
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = name
        self.echo(
            f"{name}: stopping after this step and saving a checkpoint (Ctrl-C again aborts without saving)"
        )

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _check_precision(precision: str, device: torch.device) -> None:
    if precision == "fp16" and device.type != "cuda":
        raise UserError(
            "--precision fp16 needs a CUDA device (it trains with a gradient scaler); use fp32 or bf16 on CPU"
        )


def load_student(config: TrainConfig, device: torch.device) -> RankerModule:
    """The ranker to train, built from `config.model` with the run's lengths, pooling, similarity and scale."""
    ranker = config.load(config.model, device=str(device))
    if config.score_scale is not None:
        ranker.spec.score_scale = float(config.score_scale)
    if config.learn_score_scale and "learn_score_scale" not in ranker.architecture.options:
        raise UserError(
            f"--learn-score-scale applies to {applies_to('learn_score_scale')}, not "
            f"{ranker.arch} (its head sets its own scale)"
        )
    return ranker


def save_model(module: StudentModule, folder: Path, training: dict[str, Any]) -> None:
    """The ranker in Hugging Face layout + kdbench.json, the learned scale folded into its spec."""
    from transformers.utils import logging as hf_logging

    ranker = module.ranker
    base_scale = ranker.spec.score_scale
    ranker.spec.score_scale = module.effective_score_scale()
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # "Writing model shards" at every checkpoint is noise
    try:
        save_checkpoint(ranker, folder, metadata=training)
    finally:
        ranker.spec.score_scale = base_scale
        if was_enabled:
            hf_logging.enable_progress_bar()


def _optimizer(module: StudentModule, config: TrainConfig) -> torch.optim.Optimizer:
    # No weight decay on biases, LayerNorm weights and the score scale (the usual BERT recipe).
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for parameter in module.ranker.parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.dim() < 2 else decay).append(parameter)
    groups: list[dict[str, Any]] = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if module.log_scale is not None:
        # Its own rate: at the encoder's (~1e-5) one scalar would barely move in a short run, while
        # Adam's steps of ~lr let the log-scale travel about lr x steps.
        groups.append(
            {
                "params": [module.log_scale],
                "weight_decay": 0.0,
                "lr": config.score_scale_learning_rate,
            }
        )
    return torch.optim.AdamW(groups, lr=config.learning_rate)


@torch.no_grad()
def score_triples(
    module: StudentModule, training_set: TrainingSet, rows: list[int], batch_size: int = 32
) -> list[float]:
    """The student's margins (positive minus first negative) on training-set `rows`, in eval mode."""
    was_training = module.training
    module.eval()
    margins: list[float] = []
    try:
        for start in range(0, len(rows), batch_size):
            queries, doc_lists, _ = training_set.batch(rows[start : start + batch_size])
            scores = module(queries, doc_lists).float()
            margins.extend((scores[:, 0] - scores[:, 1]).tolist())
    finally:
        module.train(was_training)
    return margins


class _Progress:
    """A rich progress bar with loss, samples/s and ETA; plain lines when stdout is not a terminal."""

    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self.total, self.enabled, self.progress, self.task = total, enabled, None, None
        self.every = max(1, total // 20)
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[speed]} samples/s"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.task = self.progress.add_task(
                "train", total=total, completed=start, loss="-", speed="-"
            )

    def __enter__(self) -> _Progress:
        if self.progress is not None:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def echo(self, message: str) -> None:
        if self.enabled:
            self.console.print(message, markup=False, highlight=False)

    def update(self, step: int, loss: float, speed: float, eta_s: float) -> None:
        if not self.enabled:
            return
        if self.progress is not None and self.task is not None:
            self.progress.update(
                self.task, completed=step, loss=f"{loss:.4f}", speed=f"{speed:.1f}"
            )
        elif step % self.every == 0 or step == self.total:
            self.echo(
                f"train step {step}/{self.total}  loss {loss:.4f}  {speed:.1f} samples/s  ETA {eta_s:.0f} s"
            )


def train(
    config: TrainConfig,
    *,
    collection: Collection | None = None,
    run: dict[str, dict[str, float]] | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train `config.model` on `config`'s triples; write checkpoints, log and summary under `config.output`.

    `collection`/`run` may be passed in (already loaded); `on_step(step, loss)` runs after every optimizer
    step (tests use it to deliver a signal mid-run).
    """
    context = distributed.setup(config.device)
    try:
        _check_precision(config.precision, context.device)
        output = Path(config.output)
        lock: contextlib.AbstractContextManager[Any] = (
            _output_folder(config, output) if context.is_main else contextlib.nullcontext()
        )
        created = not output.exists()
        try:
            with lock:
                return _train(config, context, output, collection, run, on_step)
        except UserError:
            if created and context.is_main:
                _remove_empty_folder(output)  # a refused run leaves nothing behind
            raise
    finally:
        distributed.teardown(context)


# What `kdbench train` wrote into --output before folders carried kdbench's marker.
EARLIER_FILES = (SUMMARY_FILE, LOG_FILE, ckpt.CHECKPOINTS, "kdbench.json")


def _output_folder(config: TrainConfig, output: Path) -> contextlib.AbstractContextManager[Any]:
    """--output, refused when it holds files kdbench did not write, then locked and claimed.

    --resume on such a folder says what to do: there is no training to continue. A new or
    empty folder with --resume starts a new training (how study scripts rerun a stage).
    """
    found = foreign_files(output, "train", EARLIER_FILES)
    if found and config.resume:
        raise UserError(
            f"--resume: {output} holds no kdbench training (it holds {', '.join(found[:3])}); "
            "pass the --output of an earlier `kdbench train` to continue it, or drop --resume "
            "and train into a new or empty folder"
        )
    return output_folder(output, "train", where=f"--output {output}", earlier=EARLIER_FILES)


def _remove_scratch(output: Path) -> None:
    """Delete what a killed run left half-written: the scratch folders of a checkpoint (hidden
    entries of checkpoints/) and of the final model (`.final-*`, and its staging). Only
    called under the folder's lock, when no other process writes here."""
    leftovers = [*(output / ckpt.CHECKPOINTS).glob(".*"), *output.glob(".final-*")]
    leftovers += output.glob("..final-*")
    for path in leftovers:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _remove_empty_folder(folder: Path) -> None:
    """Remove `folder` if it holds nothing but the lock and marker files (this run made them)."""
    made = {folder / LOCK_FILE, folder / OWNER_FILE}
    if not folder.is_dir() or any(p not in made for p in folder.iterdir()):
        return
    for path in made:
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _resume_point(config: TrainConfig, output: Path) -> Path | None:
    summary = output / SUMMARY_FILE
    latest = ckpt.latest_checkpoint(output)
    if not config.resume:
        if latest is not None or summary.exists():
            raise UserError(
                f"--output {output}: already holds a training run; pass --resume to continue it, "
                "or choose another --output"
            )
        return None
    if latest is None:
        return None
    meta = ckpt.read_trainer_meta(latest)
    if meta.get("config_hash") != config.hash():
        saved = meta.get("config", {})
        changed = sorted(
            k
            for k, v in config.to_dict().items()
            if k not in RESUMABLE_FIELDS and saved.get(k) != v
        )
        raise UserError(
            f"--resume: {latest} was trained with other settings ({', '.join(changed) or 'config'}); "
            "resume with the same options or choose another --output"
        )
    return latest


def _train(
    config: TrainConfig,
    context: distributed.DistContext,
    output: Path,
    collection: Collection | None,
    run: Run | None,
    on_step: Callable[[int, float], None] | None,
) -> TrainResult:
    started = time.perf_counter()
    objective = Objective.named(
        config.loss,
        config.label_loss,
        config.label_weight,
        config.teacher_margin_floor,
        config.temperature,
    )
    if config.batch_size % (config.grad_accum * context.world_size):
        raise UserError(
            f"--batch-size {config.batch_size} must split evenly over --grad-accum {config.grad_accum} "
            f"x {context.world_size} processes"
        )
    if context.is_main:
        _remove_scratch(output)
    if config.resume and (output / SUMMARY_FILE).exists():
        # Finished already: --resume has nothing left to do (a stage rerun by a study script).
        summary = json.loads((output / SUMMARY_FILE).read_text(encoding="utf-8"))
        status = str(summary.get("status", "completed"))
        return TrainResult(output, status, int(summary.get("steps_done", config.steps)), summary)
    resume_from = _resume_point(config, output)

    _seed_everything(config.seed)
    training_set = load_training_set(TrainingData.of(config), collection=collection, run=run)
    trainer = Trainer(config, context, output, training_set, objective, started)
    trainer.start(resume_from)
    return trainer.run(on_step)


class Trainer:
    """One training run: the student (DDP-wrapped under torchrun), its optimizer, schedule and
    grad scaler, the step reached and the `History`.

    `start` resumes from a checkpoint (or begins a fresh output folder) and measures the
    teacher report; `run` trains to `config.steps` (or an early stop or a stop signal) and
    installs the final model. The order of every random draw is fixed, so a run resumed from
    a checkpoint continues the uninterrupted run's curve exactly.
    """

    def __init__(
        self,
        config: TrainConfig,
        context: distributed.DistContext,
        output: Path,
        training_set: TrainingSet,
        objective: Objective,
        started: float,
    ) -> None:
        from torch.nn.parallel import DistributedDataParallel

        self.config, self.context, self.output = config, context, output
        self.training_set, self.objective, self.started = training_set, objective, started
        ranker = load_student(config, context.device)
        if config.dropout is not None:
            set_dropout(ranker, config.dropout)
        self.module = StudentModule(ranker, config.learn_score_scale).to(context.device)
        self.module.train()
        self.model: torch.nn.Module = self.module
        if context.enabled:
            device_ids = [context.device.index] if context.device.type == "cuda" else None
            # cat leaves the encoder's pooler unused; DDP must know not to wait for its gradients.
            self.model = DistributedDataParallel(
                self.module, device_ids=device_ids, find_unused_parameters=True
            )
        # Dropout streams differ per rank (rank 0 keeps the single-process stream).
        _seed_everything(config.seed + context.rank)
        self.optimizer = _optimizer(self.module, config)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, config.warmup, config.steps)
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=config.precision == "fp16")
        self.parameters = [p for p in self.module.parameters() if p.requires_grad]
        self.log_path = output / LOG_FILE
        self.step = 0
        self.history = History()
        self.earlier_seconds = 0.0  # training time of the segments before a resume
        self.report_rows = list(range(min(config.report_sample, len(training_set))))
        self.progress = _Progress(config.steps, 0, False)

    def state(self, rng_states: list[dict[str, Any]]) -> dict[str, Any]:
        """Everything --resume needs, as dicts of tensors and plain values (`rng_states`: per rank)."""
        return {
            "module": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_states,
            "history": self.history.to_dict(),
        }

    def load_state(self, state: dict[str, Any], step: int) -> None:
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        ckpt.set_rng_state(state["rng"][self.context.rank])
        self.step = step
        self.history = History.from_dict(state["history"])

    def start(self, resume_from: Path | None) -> None:
        """Resume from `resume_from` or begin afresh; measure the student before training once."""
        if resume_from is not None:
            state, meta = ckpt.load_trainer_state(resume_from)
            self.load_state(state, int(meta["step"]))
            if self.context.is_main:
                truncate_log(self.log_path, self.step)
        elif self.context.is_main:
            self.output.mkdir(parents=True, exist_ok=True)
            if self.log_path.exists():
                self.log_path.unlink()
        # Margins before training, once (kept in the checkpoint so a resumed run reports them too).
        if self.history.report is None and self.context.is_main:
            rng_before = ckpt.rng_state()
            margins = score_triples(self.module, self.training_set, self.report_rows)
            self.history.report = _teacher_report(self.config, self.training_set, margins)
            ckpt.set_rng_state(rng_before)
        self.earlier_seconds = self.history.train_seconds

    def seconds(self) -> float:
        """Training time over every segment of the run so far."""
        return self.earlier_seconds + time.perf_counter() - self.started

    def run(self, on_step: Callable[[int, float], None] | None = None) -> TrainResult:
        """Train to the end, an early stop or a stop signal; `on_step(step, loss)` after each step."""
        config, context = self.config, self.context
        status = "completed"
        with (
            StopSignals(lambda m: print(f"kdbench: {m}", file=sys.stderr)) as stop,
            _Progress(config.steps, self.step, context.is_main and not config.quiet) as progress,
        ):
            self.progress = progress
            while self.step < config.steps:
                loss = self.train_step()
                if on_step is not None:
                    on_step(self.step, loss)
                stopped = self._after_step(stop.requested is not None)
                if stopped is not None:
                    status = stopped
                    break
            dev = bool(self.training_set.dev_qids)
            if status != "interrupted" and dev and not self.history.validated_at(self.step):
                self.run_validation(self.step)
        if status == "interrupted":
            return self._interrupted(stop.requested)
        summary = self.finish(status)
        distributed.barrier(context)
        return TrainResult(self.output, status, self.step, summary)

    def _after_step(self, stop_requested: bool) -> str | None:
        """Validate and checkpoint as scheduled; the status when the run stops at this step."""
        config, step = self.config, self.step
        early_stop = False
        if config.validate_every and step % config.validate_every == 0 and step < config.steps:
            early_stop = self.run_validation(step)
        stop_now = distributed.any_rank(stop_requested, self.context)
        periodic = bool(config.checkpoint_every and step % config.checkpoint_every == 0)
        # The last step's checkpoint is the final model, written by `finish`.
        if (periodic or stop_now or early_stop) and step < config.steps:
            self.save_checkpoint()
        if stop_now and step < config.steps:
            return "interrupted"
        return "early-stopped" if early_stop else None

    def train_step(self) -> float:
        """One optimizer step over the global batch of this step (all micro-batches, all ranks)."""
        config = self.config
        t0 = time.perf_counter()
        rows = batch_indices(self.step, config.batch_size, len(self.training_set), config.seed)
        loss_sum = torch.zeros((), device=self.context.device)
        for m in range(config.grad_accum):
            loss_sum += self._micro_batch(rows, m)
        step_loss = float(distributed.all_reduce_mean(loss_sum, self.context))
        if not math.isfinite(step_loss):
            self._diverged(step_loss)
        self.scaler.unscale_(self.optimizer)
        max_norm = config.max_grad_norm if config.max_grad_norm > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.parameters, max_norm))
        lr = self.scheduler.get_last_lr()[0]
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        seconds = time.perf_counter() - t0
        speed = config.batch_size / seconds
        if self.context.is_main:
            entry = {
                "step": self.step,
                "loss": step_loss,
                "lr": lr,
                "grad_norm": grad_norm,
                "samples_per_s": speed,
                "step_s": seconds,
            }
            if self.module.log_scale is not None:
                entry["score_scale"] = self.module.effective_score_scale()
            append_log(self.log_path, entry)
        self.progress.update(self.step, step_loss, speed, seconds * (config.steps - self.step))
        return step_loss

    def _micro_batch(self, rows: list[int], m: int) -> torch.Tensor:
        """Forward and backward of micro-batch `m` of the global batch `rows` (this rank's share)."""
        config, context = self.config, self.context
        micro = config.micro_batch_size
        per_rank = micro // context.world_size
        chunk = rows[m * micro : (m + 1) * micro][
            context.rank * per_rank : (context.rank + 1) * per_rank
        ]
        queries, doc_lists, teacher = self.training_set.batch(chunk)
        last = m == config.grad_accum - 1
        sync = self.model.no_sync() if context.enabled and not last else contextlib.nullcontext()  # type: ignore[operator]
        with sync:
            with _autocast(context.device, config.precision):
                scores = self.model(queries, doc_lists)
            teacher_scores = (
                torch.tensor(teacher, dtype=torch.float32, device=context.device)
                if teacher is not None
                else None
            )
            loss = self.objective(scores.float(), teacher_scores) / config.grad_accum
            self.scaler.scale(loss).backward()
        return loss.detach()

    def _diverged(self, step_loss: float) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        kept = ckpt.latest_checkpoint(self.output)
        if self.context.is_main:
            append_log(
                self.log_path, {"step": self.step + 1, "event": "diverged", "loss": step_loss}
            )
        raise TrainingDiverged(
            f"loss is {step_loss} at step {self.step + 1}: training stopped; "
            + (f"the last good checkpoint is {kept}; " if kept else "no checkpoint was saved yet; ")
            + "lower --learning-rate, use --precision fp32, or check the teacher scores"
        )

    def run_validation(self, done: int) -> bool:
        """Validate (sharded across ranks, see kdbench.train.validation); True when early
        stopping says stop."""
        context, training_set = self.context, self.training_set
        metrics = (
            validate(self.module.ranker, training_set, context=context)
            if training_set.dev_qids
            else None
        )
        if metrics is None:
            return False
        entry = Validation(done, metrics["nDCG@10"], metrics["RR@10"])
        if self.history.record(entry) and context.is_main:
            ckpt.write_folder_atomically(
                self.output / ckpt.CHECKPOINTS / "best",
                lambda folder: self._save_model(
                    folder, done, self.output / ckpt.CHECKPOINTS / "best"
                ),
            )
        best = self.history.best
        assert best is not None
        if context.is_main:
            append_log(
                self.log_path,
                {"step": done, "event": "validation", **entry.metrics(), "best_step": best.step},
            )
            self.progress.echo(
                f"validation at step {done}: dev nDCG@10 {entry.ndcg_at_10:.4f} "
                f"(best {best.ndcg_at_10:.4f} at step {best.step})"
            )
        patience = self.config.patience
        return bool(patience and self.history.bad_validations >= patience)

    def save_checkpoint(self) -> None:
        """A step checkpoint: the model as a loadable folder plus the trainer state and its meta."""
        self.history.train_seconds = self.seconds()
        rng_states = distributed.gather_objects(ckpt.rng_state(), self.context)
        if not self.context.is_main:
            return
        done, config = self.step, self.config
        state = self.state(rng_states)
        meta = {
            "step": done,
            "config_hash": config.hash(),
            "config": config.to_dict(),
            "time": time.time(),
        }

        def fill(folder: Path) -> None:
            with reporting_no_room(folder, ckpt.step_dir(self.output, done)):
                save_model(self.module, folder, _training_meta(config, done))
                ckpt.save_trainer_state(folder, state, meta)

        ckpt.write_folder_atomically(ckpt.step_dir(self.output, done), fill)
        ckpt.prune_checkpoints(self.output, config.keep_checkpoints)

    def _interrupted(self, signal_name: str | None) -> TrainResult:
        latest = ckpt.latest_checkpoint(self.output)
        summary = {
            "status": "interrupted",
            "steps_done": self.step,
            "checkpoint": str(latest) if latest else None,
        }
        if self.context.is_main:
            self.progress.echo(
                f"interrupted at step {self.step}; checkpoint {latest}; continue with the same "
                "command + --resume"
            )
        return TrainResult(self.output, "interrupted", self.step, summary, signal=signal_name)

    def finish(self, status: str) -> dict[str, Any]:
        """Install the final model (the best on the dev slice when validating) and write
        training.json; its content (on rank 0; other ranks return {})."""
        seconds = self.seconds()
        if not self.context.is_main:
            return {}

        config, history = self.config, self.history
        assert history.report is not None  # measured by `start` on rank 0
        history.report.student_after = scorer_summary(
            score_triples(self.module, self.training_set, self.report_rows)
        )
        final_step = self._install_final_model()
        entries = [e for e in read_log(self.output) if "loss" in e and e.get("event") is None]
        result = new_result("train", config.to_dict())
        result.update(
            {
                "status": status,
                "steps_done": self.step,
                "final_model_step": final_step,
                "config_hash": config.hash(),
                "world_size": self.context.world_size,
                "device": str(self.context.device),
                "precision": config.precision,
                "loss": config.loss,
                "data": self.training_set.source,
                "final_loss": entries[-1]["loss"] if entries else None,
                "mean_samples_per_s": (sum(e["samples_per_s"] for e in entries) / len(entries))
                if entries
                else None,
                "train_seconds": seconds,
                "validations": [v.to_dict() for v in history.validations],
                "best": history.best.to_dict() if history.best is not None else None,
                "teacher_report": history.report.to_dict(),
                "model": self.module.ranker.spec.to_dict()
                | {"score_scale": self.module.effective_score_scale()},
            }
        )
        result["units"] = {
            "train_seconds": "s",
            "mean_samples_per_s": "triples/s",
            "final_loss": config.loss,
        }
        save_result(self.output / SUMMARY_FILE, result)
        return result

    def _save_model(self, folder: Path, step: int, shown: Path) -> None:
        """The model at `step` into `folder` (a scratch folder that becomes `shown`)."""
        with reporting_no_room(folder, shown):
            save_model(self.module, folder, _training_meta(self.config, step))

    def _install_final_model(self) -> int:
        """Put the final model in the output folder: the best on the dev slice when there is
        one, else the last step's; return its step."""
        best, output = self.history.best, self.output
        best_dir = output / ckpt.CHECKPOINTS / "best"
        with tempfile.TemporaryDirectory(prefix=".final-", dir=output) as scratch:
            if best is not None and best_dir.exists():
                shutil.copytree(best_dir, scratch, dirs_exist_ok=True)  # with its module subfolders
                final_step = best.step
            else:
                self._save_model(Path(scratch), self.step, output)
                final_step = self.step
            ckpt.install_folder(Path(scratch), output)
        return final_step


def _training_meta(config: TrainConfig, step: int) -> dict[str, Any]:
    return {"config": config.to_dict(), "config_hash": config.hash(), "step": step}


def _teacher_report(
    config: TrainConfig, training_set: TrainingSet, student_margins: list[float]
) -> TeacherReport:
    report = TeacherReport(
        sample=len(student_margins), student_before=scorer_summary(student_margins)
    )
    rows = teacher_rows(training_set)
    if not rows:
        return report
    teacher = scorer_summary([r.margin for r in rows], config.teacher_margin_floor)
    sidecars = {}
    for path in config.teacher_scores:
        sidecar = Path(str(path) + ".json")
        if sidecar.exists():
            with contextlib.suppress(OSError, json.JSONDecodeError):
                sidecars[str(path)] = json.loads(sidecar.read_text(encoding="utf-8")).get(
                    "teacher_report", {}
                )
    teacher["files"] = sidecars
    comparison = compare_teacher_student(teacher, report.student_before)
    report.teacher = teacher
    report.margin_std_ratio = comparison["margin_std_ratio"]
    report.warnings = comparison["warnings"]
    for note in report.warnings:
        log.warning("teacher: %s", note)
    return report
