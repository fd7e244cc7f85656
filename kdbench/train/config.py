"""`TrainConfig` and `TeacherConfig`: every setting of a training run or a teacher scoring,
declared once with its help text (the CLI options come from these fields) and checked up front.

Light (no torch): the CLI builds and validates them before anything heavy is imported.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from kdbench.errors import UserError
from kdbench.hashing import config_hash
from kdbench.json_types import JsonObject
from kdbench.losses import get_loss, label_losses
from kdbench.models.registry import applies_to
from kdbench.options import (
    PATH,
    Fixed,
    Mining,
    ModelLoading,
    as_options,
    check_ranges,
    flag_name,
    label_loss_names,
    loss_names,
    normalization_names,
    option,
    out_of_range,
    reuse,
)

PRECISIONS = ("fp32", "fp16", "bf16")
DEVICES = ("auto", "cpu", "cuda")

# Settings that do not change what is computed: a run resumed with other values continues the same curve.
RESUMABLE_FIELDS = frozenset(
    {"resume", "quiet", "checkpoint_every", "keep_checkpoints", "output", "report_sample"}
)


@dataclass(frozen=True)
class TrainConfig(ModelLoading, Mining):
    """One training run; the model-loading and mining options are the shared groups'."""

    model: str = option(
        help="Start from: hub id, folder, kdbench checkpoint, all-MiniLM-L6-v2.", cli=PATH
    )
    output: str = option(
        help="Folder for the final model, checkpoints/ and logs.", short="-o", cli=PATH
    )
    # Training fixes its lengths (the checkpoint records them); devices include "auto".
    max_query_len: int = reuse(ModelLoading, "max_query_len", default=32, help="Query tokens.")
    max_doc_len: int = reuse(ModelLoading, "max_doc_len", default=128, help="Passage tokens.")
    device: str = reuse(ModelLoading, "device", default="auto", help="auto | cpu | cuda | cuda:N.")
    loss: str = option(
        "margin-mse",
        help="{choices}; a distillation loss (margin-mse, mse, kl) needs --teacher-scores.",
        choices=loss_names,
    )
    # Hybrid objective: loss + label_weight * label_loss, and label-consistent teacher targets.
    label_loss: str | None = option(
        None,
        help="Add a label term to a distillation loss: {choices} (hybrid objective).",
        choices=label_loss_names,
    )
    label_weight: float = option(
        1.0, help="Weight of the --label-loss term (choose it on the dev slice).", minimum=0
    )
    teacher_margin_floor: float | None = option(
        None,
        help="Label-consistent targets: raise teacher margins below DELTA to DELTA "
        "(target = max(t+ - t-, DELTA)).",
    )
    temperature: float = option(
        1.0, help="kl: softmax temperature of student and teacher scores.", above=0
    )
    steps: int = option(100, help="Optimizer steps.", minimum=1)
    # Training data: DATA's train split (mined triples, dev slice, validation) and/or a triples file.
    data: str | None = option(
        None,
        help="Collection folder or ir_datasets id: triples are mined from its train split "
        "(and texts of id triples/teacher scores come from it).",
        cli=PATH,
    )
    split: str = option("train", help="Split of --data to train on (its test split is never read).")
    triples: str | None = option(
        None,
        help="Text triples, id triples or a teacher-score file (format auto-detected) "
        "instead of mining.",
        cli=PATH,
    )
    teacher_scores: tuple[str, ...] = option(
        (),
        help="pos_score<TAB>neg_score<TAB>qid<TAB>pid_pos<TAB>pid_neg file; repeat for an "
        "ensemble (mean).",
        cli=PATH,
    )
    teacher_normalize: str = option(
        "none", help="{choices} per teacher before averaging.", choices=normalization_names
    )
    negatives: int = option(
        1,
        help="Negatives per example (kl/ce use several; with --teacher-scores, grouped per positive).",
        aliases=("negatives_per_query",),
        minimum=1,
    )
    # Optimisation.
    batch_size: int = option(16, help="Triples per optimizer step (over all processes).", minimum=1)
    grad_accum: int = option(1, help="Micro-batches per step (gradient accumulation).", minimum=1)
    learning_rate: float = option(2e-5, help="AdamW peak learning rate.", aliases=("lr",), above=0)
    weight_decay: float = option(
        0.01, help="AdamW weight decay (not on biases/LayerNorm).", minimum=0
    )
    warmup_steps: int | None = option(
        None, help="Linear warm-up steps (default: 10% of steps; 0: none).", minimum=0
    )
    max_grad_norm: float = option(1.0, help="Gradient clipping norm (0: none).", minimum=0)
    score_scale: float | None = option(
        None,
        help=lambda: (
            f"{applies_to('score_scale')} score multiplier (cosine x 20 is common); "
            "default: the model's."
        ),
        above=0,
    )
    learn_score_scale: bool = option(
        False, help="Learn a multiplier on the student's scores (saved in the checkpoint)."
    )
    score_scale_learning_rate: float = option(
        0.02, help="Learning rate of the learned score multiplier.", above=0
    )
    dropout: float | None = option(
        None, help="Override every dropout probability (0 for exact DDP tests).", minimum=0, below=1
    )
    precision: str = option(
        "fp32", help="fp32 | fp16 (CUDA, grad scaler) | bf16.", choices=lambda: Fixed(PRECISIONS)
    )
    # Validation on the dev slice: BM25 top-`validate_depth` re-ranked, nDCG@10.
    validate_every: int = option(
        0,
        help="Validate on the dev slice every N steps (always at the end when there is a dev slice).",
        minimum=0,
    )
    validate_depth: int = option(30, help="BM25 candidates re-ranked per dev query.", minimum=1)
    patience: int = option(
        0, help="Early stopping: validations without improvement (0: off).", minimum=0
    )
    # Checkpoints and logs.
    checkpoint_every: int = option(
        0, help="Save a checkpoint every N steps (0: at the end).", minimum=0
    )
    keep_checkpoints: int = option(2, help="Step checkpoints kept (0: all).", minimum=0)
    resume: bool = option(False, help="Continue the run in --output from its last checkpoint.")
    quiet: bool = option(False, help="No progress output.", short="-q")
    report_sample: int = option(
        256,
        help="Training triples the student's margins are measured on (0: none).",
        minimum=0,
        cli={"hidden": True},
    )
    extra: dict[str, Any] = option(
        default_factory=dict,
        help="Free-form provenance (e.g. a study stage).",
        cli={"hidden": True},
    )

    def __post_init__(self) -> None:
        check_ranges(self, flag_name)
        if self.batch_size % self.grad_accum:
            raise UserError(
                f"--batch-size {self.batch_size} is not a multiple of --grad-accum {self.grad_accum}; "
                "the global batch is split into equal micro-batches"
            )
        if self.warmup_steps is not None and self.warmup_steps > self.steps:
            raise UserError(
                f"--warmup-steps {self.warmup_steps}: must be between 0 and --steps {self.steps}"
            )
        if self.teacher_normalize not in normalization_names():
            raise UserError(
                f"--teacher-normalize {self.teacher_normalize!r}: choose one of "
                f"{', '.join(normalization_names().names())}"
            )
        if self.precision not in PRECISIONS:
            raise UserError(
                f"--precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}"
            )
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise UserError(
                f"--device {self.device!r}: choose one of {', '.join(DEVICES)} (or cuda:N)"
            )
        if self.data is None and self.triples is None and not self.teacher_scores:
            raise UserError(
                "no training data: pass --data (mine triples from its train split) or --triples FILE"
            )

        loss = get_loss(self.loss)
        if loss.needs_teacher and not self.teacher_scores:
            raise UserError(
                f"--loss {loss.name} needs a teacher: pass --teacher-scores FILE (from `kdbench teacher score`), "
                "or use --loss ranknet / ce to train on labels"
            )
        if self.teacher_scores and not loss.needs_teacher:
            raise UserError(
                f"--loss {loss.name} trains on labels and ignores --teacher-scores; use --loss margin-mse"
            )
        self._check_objective(loss)
        if self.patience and not self.validate_every:
            raise UserError(
                "--patience needs --validate-every N (early stopping compares validations)"
            )
        if (self.validate_every or self.patience) and self.data is None:
            raise UserError(
                "--validate-every needs --data: validation re-ranks the dev slice of its train queries"
            )

    def _check_objective(self, loss: Any) -> None:
        """The hybrid-loss and teacher-target settings fit the chosen loss."""

        if self.label_loss is not None:
            label = get_loss(self.label_loss)
            if label.needs_teacher:
                raise UserError(
                    f"--label-loss {label.name}: learns from a teacher; choose a label loss "
                    f"({', '.join(label_losses())})"
                )
            if not loss.needs_teacher:
                raise UserError(
                    f"--label-loss adds a label term to a distillation loss; --loss {loss.name} "
                    "trains on labels already (drop --label-loss, or use --loss margin-mse)"
                )
        if self.teacher_margin_floor is not None and not loss.needs_teacher:
            raise UserError(
                f"--teacher-margin-floor floors a teacher's margins; --loss {loss.name} has no teacher"
            )
        if self.temperature != 1.0 and "temperature" not in loss.options:
            raise UserError(
                f"--temperature applies to --loss kl, not {loss.name}; drop --temperature"
            )

    @property
    def warmup(self) -> int:
        return self.warmup_steps if self.warmup_steps is not None else self.steps // 10

    @property
    def micro_batch_size(self) -> int:
        return self.batch_size // self.grad_accum

    def to_dict(self) -> JsonObject:
        data = dataclasses.asdict(self)
        data["teacher_scores"] = list(self.teacher_scores)
        return data

    def hash(self) -> str:
        """What must match for --resume to continue the same run (output and logging excluded).

        Settings at their defaults are left out, so a setting added in a later version (with a
        default that keeps the old behaviour) does not orphan existing checkpoints.
        """
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        relevant = {
            k: v
            for k, v in self.to_dict().items()
            if k not in RESUMABLE_FIELDS and not (k in defaults and _same(v, defaults[k]))
        }
        return config_hash(relevant)


def _same(value: Any, default: Any) -> bool:
    if default is dataclasses.MISSING:
        return False
    if isinstance(default, tuple):
        return list(value) == list(default)
    return bool(value == default)


@dataclass(frozen=True)
class TeacherConfig(ModelLoading, Mining):
    """`kdbench teacher score`: mining and the dev slice are the students' (same options, same
    defaults), so the score file covers the triples a student trains on."""

    model: str = option(help="bm25, a kdbench checkpoint, a folder or hub id.", cli=PATH)
    output: str = option(
        help="Teacher-score file to write (SCORES.tsv); the report goes to SCORES.tsv.json.",
        short="-o",
        cli=PATH,
    )
    data: str | None = option(
        None,
        help="Collection: triples are mined from its train split exactly as `kdbench train` "
        "mines them.",
        cli=PATH,
    )
    split: str = option("train", help="Split of --data the triples come from.")
    triples: str | None = option(
        None, help="Score these triples (text, id or score file) instead of mining.", cli=PATH
    )
    validate_depth: int = reuse(TrainConfig, "validate_depth")
    device: str = reuse(TrainConfig, "device")
    # Scoring.
    batch_size: int = option(64, help="Pairs per forward pass.", minimum=1)
    # Cross-fitting: train `folds` teachers from `model`, each scoring the fold it did not see.
    folds: int = option(
        0,
        help="Cross-fit: train K teachers from --model, each scoring the queries it did not "
        "train on (0: score with --model as it is).",
        minimum=0,
    )
    fold_steps: int = reuse(TrainConfig, "steps", help="Training steps per fold teacher.")
    fold_loss: str = option(
        "ranknet", help="Loss of the fold teachers (ranknet | ce).", choices=loss_names
    )
    fold_batch_size: int = reuse(
        TrainConfig, "batch_size", help="Triples per step for fold teachers."
    )
    fold_learning_rate: float = reuse(
        TrainConfig, "learning_rate", help="Fold teachers' learning rate.", aliases=()
    )
    fold_max_query_len: int = reuse(
        TrainConfig, "max_query_len", help="Query tokens of the fold teachers."
    )
    fold_max_doc_len: int = reuse(
        TrainConfig, "max_doc_len", help="Passage tokens of the fold teachers."
    )
    # A teacher no better than the student it would teach tends to make the student worse.
    compare_student: str | None = option(
        None,
        help="A no-teacher student (checkpoint folder) to measure on the same dev slice; "
        "warns when the teacher is not better.",
        cli=PATH,
    )
    quiet: bool = reuse(TrainConfig, "quiet")

    def __post_init__(self) -> None:
        check_ranges(self, flag_name)
        if self.folds == 1:
            raise UserError(f"--folds {self.folds}: use 0 (no cross-fitting) or at least 2")
        if self.folds and self.model == "bm25":
            raise UserError("--folds trains teachers; BM25 has nothing to train, drop --folds")
        if self.folds and self.data is None:
            raise UserError("--folds needs --data: fold teachers train on its train queries")

    def training_config(self, **changes: Any) -> TrainConfig:
        """The TrainConfig whose triples and dev slice this teacher scores (and, with `changes`,
        a fold teacher's training)."""
        # Scoring's batch size is pairs per forward pass, not triples per step.
        shared = as_options(self, TrainConfig, skip=("output", "batch_size"))
        base = TrainConfig(output=str(self.output) + ".train", loss="ranknet", **shared)
        return dataclasses.replace(base, **changes)


@dataclass(frozen=True)
class EnsembleConfig:
    """`kdbench teacher ensemble`: teacher-score files combined, weighted on the dev slice."""

    scores: tuple[str, ...] = option(
        help="Teacher-score file from `kdbench teacher score` (its .dev.run beside it); "
        "repeat, 2 or more.",
        cli=PATH,
    )
    data: str = option(
        help="The collection the members were scored on (dev-slice qrels).", cli=PATH
    )
    output: str = option(
        help="Ensemble score file to write (report: OUTPUT.json).", short="-o", cli=PATH
    )
    split: str = option("train", help="Split of --data the triples came from.")
    normalize: str = option(
        "query-zscore",
        help="Per member before weighting: {choices} (query-zscore: per query).",
        choices=normalization_names,
    )
    weights: str | None = option(
        None,
        help="Comma list, one per --scores (default: fitted on the dev slice for the best nDCG@10).",
    )

    def __post_init__(self) -> None:
        self.weight_list()  # a mistake in --weights stops here, before any file is read

    def weight_list(self) -> list[float] | None:
        """--weights as numbers (None: fit them on the dev slice)."""
        if self.weights is None:
            return None
        text = self.weights
        try:
            values = [float(item) for item in text.split(",") if item.strip()]
        except ValueError:
            raise UserError(
                f"--weights {text!r}: write numbers, e.g. --weights 0.5,0.3,0.2"
            ) from None
        if not values:
            raise UserError(f"--weights {text!r}: write numbers, e.g. --weights 0.5,0.3,0.2")
        for value in values:
            problem = out_of_range(value, minimum=0)
            if problem is not None:
                raise UserError(f"--weights {text!r}: each weight {problem}")
        return values

    def record(self) -> JsonObject:
        """The settings as the teacher result records them."""
        return {
            "scores": list(self.scores),
            "data": self.data,
            "split": self.split,
            "normalize": self.normalize,
            "weights": self.weights,
        }
