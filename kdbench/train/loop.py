"""The training loop: AdamW, linear warm-up then linear decay, clipping, accumulation, DDP.

`train(config)` is the library entry point (`kdbench train` and `kdbench run` call it). It
returns a `TrainResult` whose `status` is "completed", "early-stopped" or "interrupted"; a
NaN/infinite loss raises `TrainingDiverged` after keeping the last good checkpoint.

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

from kdbench.errors import UserError
from kdbench.io import atomic_write_text, folder_lock
from kdbench.losses.objective import Objective
from kdbench.train import checkpoint as ckpt
from kdbench.train import distributed
from kdbench.train.config import RESUMABLE_FIELDS, TrainConfig
from kdbench.train.dataset import TrainingSet, load_training_set, teacher_rows
from kdbench.train.report import compare_teacher_student, scorer_summary
from kdbench.train.student import StudentModule, set_dropout
from kdbench.train.validation import validate

log = logging.getLogger("kdbench")

LOG_FILE = "train_log.jsonl"
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


def load_student(config: TrainConfig, device: torch.device) -> Any:
    """The ranker to train, built from `config.model` with the run's lengths, pooling, similarity and scale."""
    from kdbench.models.load import load_model

    ranker = load_model(
        config.model,
        config.arch,
        layers=config.layers,
        split_layer=config.split_layer,
        device=str(device),
        max_query_len=config.max_query_len,
        max_doc_len=config.max_doc_len,
        pooling=config.pooling,
        similarity=config.similarity,
        colbert_dim=config.colbert_dim,
        allow_pickle=config.allow_pickle,
        trust_remote_code=config.trust_remote_code,
    )
    if config.score_scale is not None:
        ranker.spec.score_scale = float(config.score_scale)
    if config.learn_score_scale and ranker.arch == "cat":
        raise UserError(
            "--learn-score-scale applies to dot and colbert (a cat's head already sets its scale)"
        )
    return ranker


def save_model(module: StudentModule, folder: Path, training: dict[str, Any]) -> None:
    """The ranker in Hugging Face layout + kdbench.json, the learned scale folded into its spec."""
    from transformers.utils import logging as hf_logging

    from kdbench.models.checkpoint import save_checkpoint

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


def _append_log(path: Path, entry: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, allow_nan=True) + "\n")


def _truncate_log(path: Path, step: int) -> None:
    """Keep log lines up to `step` (a resumed run rewrites what came after its checkpoint)."""
    if not path.exists():
        return
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line).get("step", 0) <= step
    ]
    atomic_write_text(path, "".join(line + "\n" for line in kept))


def read_log(output: str | Path) -> list[dict[str, Any]]:
    """The JSONL training log of a run folder, one dict per line."""
    path = Path(output) / LOG_FILE
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def train(
    config: TrainConfig,
    *,
    collection: Any = None,
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
            folder_lock(output, "kdbench train") if context.is_main else contextlib.nullcontext()
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


def _remove_empty_folder(folder: Path) -> None:
    """Remove `folder` if it holds nothing but the lock file (folder_lock created it)."""
    lock_file = folder / ".kdbench.lock"
    if not folder.is_dir() or any(p != lock_file for p in folder.iterdir()):
        return
    lock_file.unlink(missing_ok=True)
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
    collection: Any,
    run: dict[str, dict[str, float]] | None,
    on_step: Callable[[int, float], None] | None,
) -> TrainResult:
    from torch.nn.parallel import DistributedDataParallel

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
    if config.resume and (output / SUMMARY_FILE).exists():
        # Finished already: --resume has nothing left to do (a stage rerun by a study script).
        summary = json.loads((output / SUMMARY_FILE).read_text(encoding="utf-8"))
        status = str(summary.get("status", "completed"))
        return TrainResult(output, status, int(summary.get("steps_done", config.steps)), summary)
    resume_from = _resume_point(config, output)

    _seed_everything(config.seed)
    training_set = load_training_set(config, collection=collection, run=run)
    ranker = load_student(config, context.device)
    if config.dropout is not None:
        set_dropout(ranker, config.dropout)
    module = StudentModule(ranker, config.learn_score_scale).to(context.device)
    module.train()
    model: torch.nn.Module = module
    if context.enabled:
        device_ids = [context.device.index] if context.device.type == "cuda" else None
        # cat leaves the encoder's pooler unused; DDP must know not to wait for its gradients.
        model = DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=True)
    # Dropout streams differ per rank (rank 0 keeps the single-process stream).
    _seed_everything(config.seed + context.rank)

    optimizer = _optimizer(module, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, config.warmup, config.steps)
    )
    scaler = torch.amp.GradScaler("cuda", enabled=config.precision == "fp16")
    parameters = [p for p in module.parameters() if p.requires_grad]
    log_path = output / LOG_FILE

    step = 0
    history: dict[str, Any] = {"validations": [], "best": None, "bad_validations": 0, "report": {}}
    if resume_from is not None:
        state, meta = ckpt.load_trainer_state(resume_from)
        module.load_state_dict(state["module"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        ckpt.set_rng_state(state["rng"][context.rank])
        step = int(meta["step"])
        history = state["history"]
        if context.is_main:
            _truncate_log(log_path, step)
    elif context.is_main:
        output.mkdir(parents=True, exist_ok=True)
        if log_path.exists():
            log_path.unlink()

    # Margins before training, once (kept in the checkpoint so a resumed run reports them too).
    report_rows = list(range(min(config.report_sample, len(training_set))))
    if not history["report"] and context.is_main:
        rng_before = ckpt.rng_state()
        history["report"] = _teacher_report(
            config, training_set, score_triples(module, training_set, report_rows)
        )
        ckpt.set_rng_state(rng_before)

    # Training time over every segment of a resumed run (the checkpoint carries what came before).
    earlier_seconds = float(history.get("train_seconds", 0.0))

    def save_step_checkpoint(done: int) -> None:
        history["train_seconds"] = earlier_seconds + time.perf_counter() - started
        rng_states = distributed.gather_objects(ckpt.rng_state(), context)
        if not context.is_main:
            return
        state = {
            "module": module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": rng_states,
            "history": history,
        }
        meta = {
            "step": done,
            "config_hash": config.hash(),
            "config": config.to_dict(),
            "time": time.time(),
        }

        def fill(folder: Path) -> None:
            save_model(module, folder, _training_meta(config, done))
            ckpt.save_trainer_state(folder, state, meta)

        ckpt.write_folder_atomically(ckpt.step_dir(output, done), fill)
        ckpt.prune_checkpoints(output, config.keep_checkpoints)

    def run_validation(done: int) -> bool:
        """Validate (sharded across ranks, see kdbench.train.validation); True when early
        stopping says stop."""
        metrics = (
            validate(module.ranker, training_set, context=context)
            if training_set.dev_qids
            else None
        )
        if metrics is None:
            return False
        history["validations"].append({"step": done, **metrics})
        best = history["best"]
        improved = best is None or metrics["nDCG@10"] > best["nDCG@10"]
        if improved:
            history["best"] = {"step": done, **metrics}
            history["bad_validations"] = 0
            if context.is_main:
                ckpt.write_folder_atomically(
                    output / ckpt.CHECKPOINTS / "best",
                    lambda folder: save_model(module, folder, _training_meta(config, done)),
                )
        else:
            history["bad_validations"] += 1
        if context.is_main:
            _append_log(
                log_path,
                {
                    "step": done,
                    "event": "validation",
                    **metrics,
                    "best_step": history["best"]["step"],
                },
            )
            progress.echo(
                f"validation at step {done}: dev nDCG@10 {metrics['nDCG@10']:.4f} "
                f"(best {history['best']['nDCG@10']:.4f} at step {history['best']['step']})"
            )
        return bool(config.patience and history["bad_validations"] >= config.patience)

    status = "completed"
    micro = config.micro_batch_size
    per_rank = micro // context.world_size
    with (
        StopSignals(lambda m: print(f"kdbench: {m}", file=sys.stderr)) as stop,
        _Progress(config.steps, step, context.is_main and not config.quiet) as progress,
    ):
        while step < config.steps:
            t0 = time.perf_counter()
            rows = batch_indices(step, config.batch_size, len(training_set), config.seed)
            loss_sum = torch.zeros((), device=context.device)
            for m in range(config.grad_accum):
                chunk = rows[m * micro : (m + 1) * micro][
                    context.rank * per_rank : (context.rank + 1) * per_rank
                ]
                queries, doc_lists, teacher = training_set.batch(chunk)
                last = m == config.grad_accum - 1
                sync = model.no_sync() if context.enabled and not last else contextlib.nullcontext()  # type: ignore[operator]
                with sync:
                    with _autocast(context.device, config.precision):
                        scores = model(queries, doc_lists)
                    teacher_scores = (
                        torch.tensor(teacher, dtype=torch.float32, device=context.device)
                        if teacher is not None
                        else None
                    )
                    loss = objective(scores.float(), teacher_scores) / config.grad_accum
                    scaler.scale(loss).backward()
                loss_sum += loss.detach()
            step_loss = float(distributed.all_reduce_mean(loss_sum, context))
            if not math.isfinite(step_loss):
                optimizer.zero_grad(set_to_none=True)
                kept = ckpt.latest_checkpoint(output)
                if context.is_main:
                    _append_log(
                        log_path, {"step": step + 1, "event": "diverged", "loss": step_loss}
                    )
                raise TrainingDiverged(
                    f"loss is {step_loss} at step {step + 1}: training stopped; "
                    + (
                        f"the last good checkpoint is {kept}; "
                        if kept
                        else "no checkpoint was saved yet; "
                    )
                    + "lower --learning-rate, use --precision fp32, or check the teacher scores"
                )
            scaler.unscale_(optimizer)
            max_norm = config.max_grad_norm if config.max_grad_norm > 0 else float("inf")
            grad_norm = float(torch.nn.utils.clip_grad_norm_(parameters, max_norm))
            lr = scheduler.get_last_lr()[0]
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            seconds = time.perf_counter() - t0
            speed = config.batch_size / seconds
            if context.is_main:
                entry = {
                    "step": step,
                    "loss": step_loss,
                    "lr": lr,
                    "grad_norm": grad_norm,
                    "samples_per_s": speed,
                    "step_s": seconds,
                }
                if module.log_scale is not None:
                    entry["score_scale"] = module.effective_score_scale()
                _append_log(log_path, entry)
            progress.update(step, step_loss, speed, seconds * (config.steps - step))
            if on_step is not None:
                on_step(step, step_loss)
            early_stop = False
            if config.validate_every and step % config.validate_every == 0 and step < config.steps:
                early_stop = run_validation(step)
            stop_now = distributed.any_rank(stop.requested is not None, context)
            periodic = bool(config.checkpoint_every and step % config.checkpoint_every == 0)
            # The last step's checkpoint is the final model, written below.
            if (periodic or stop_now or early_stop) and step < config.steps:
                save_step_checkpoint(step)
            if stop_now and step < config.steps:
                status = "interrupted"
                break
            if early_stop:
                status = "early-stopped"
                break

        validated_now = bool(history["validations"]) and history["validations"][-1]["step"] == step
        if status != "interrupted" and training_set.dev_qids and not validated_now:
            run_validation(step)

    if status == "interrupted":
        latest = ckpt.latest_checkpoint(output)
        summary = {
            "status": status,
            "steps_done": step,
            "checkpoint": str(latest) if latest else None,
        }
        if context.is_main:
            progress.echo(
                f"interrupted at step {step}; checkpoint {latest}; continue with the same command + --resume"
            )
        return TrainResult(output, status, step, summary, signal=stop.requested)

    summary = _finish(
        config,
        context,
        output,
        module,
        training_set,
        history,
        report_rows,
        step,
        status,
        earlier_seconds + time.perf_counter() - started,
    )
    distributed.barrier(context)
    return TrainResult(output, status, step, summary)


def _training_meta(config: TrainConfig, step: int) -> dict[str, Any]:
    return {"config": config.to_dict(), "config_hash": config.hash(), "step": step}


def _teacher_report(
    config: TrainConfig, training_set: TrainingSet, student_margins: list[float]
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "student_before": scorer_summary(student_margins),
        "sample": len(student_margins),
    }
    rows = teacher_rows(training_set)
    if rows:
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
        report["teacher"] = teacher
        report.update(compare_teacher_student(teacher, report["student_before"]))
        for note in report["warnings"]:
            log.warning("teacher: %s", note)
    return report


def _finish(
    config: TrainConfig,
    context: distributed.DistContext,
    output: Path,
    module: StudentModule,
    training_set: TrainingSet,
    history: dict[str, Any],
    report_rows: list[int],
    step: int,
    status: str,
    seconds: float,
) -> dict[str, Any]:
    """Install the final model (the best on the dev slice when validating) and write training.json."""
    if not context.is_main:
        return {}
    from kdbench.results import new_result, save_result

    report = dict(history["report"])
    report["student_after"] = scorer_summary(score_triples(module, training_set, report_rows))
    best = history["best"]
    best_dir = output / ckpt.CHECKPOINTS / "best"
    with tempfile.TemporaryDirectory(prefix=".final-", dir=output) as scratch:
        if best is not None and best_dir.exists():
            shutil.copytree(best_dir, scratch, dirs_exist_ok=True)  # with its module subfolders
            final_step = best["step"]
        else:
            save_model(module, Path(scratch), _training_meta(config, step))
            final_step = step
        ckpt.install_folder(Path(scratch), output)
    entries = [e for e in read_log(output) if "loss" in e and e.get("event") is None]
    result = new_result("train", config.to_dict())
    result.update(
        {
            "status": status,
            "steps_done": step,
            "final_model_step": final_step,
            "config_hash": config.hash(),
            "world_size": context.world_size,
            "device": str(context.device),
            "precision": config.precision,
            "loss": config.loss,
            "data": training_set.source,
            "final_loss": entries[-1]["loss"] if entries else None,
            "mean_samples_per_s": (sum(e["samples_per_s"] for e in entries) / len(entries))
            if entries
            else None,
            "train_seconds": seconds,
            "validations": history["validations"],
            "best": best,
            "teacher_report": report,
            "model": module.ranker.spec.to_dict() | {"score_scale": module.effective_score_scale()},
        }
    )
    result["units"] = {
        "train_seconds": "s",
        "mean_samples_per_s": "triples/s",
        "final_loss": config.loss,
    }
    save_result(output / SUMMARY_FILE, result)
    return result
