"""`TrainConfig`: every setting of one training run, checked up front with fixable messages.

Light (no torch): the CLI builds and validates it before anything heavy is imported.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from kdbench.errors import UserError

PRECISIONS = ("fp32", "fp16", "bf16")
DEVICES = ("auto", "cpu", "cuda")

# Settings that do not change what is computed: a run resumed with other values continues the same curve.
RESUMABLE_FIELDS = frozenset(
    {"resume", "quiet", "checkpoint_every", "keep_checkpoints", "output", "report_sample"}
)


@dataclass(frozen=True)
class TrainConfig:
    model: str  # hub id, local folder or kdbench checkpoint to start from
    output: str  # checkpoint folder written at the end (and checkpoints/ inside)
    arch: str | None = None  # dot | cat | colbert; None: from the checkpoint
    layers: int | None = None  # keep the first N encoder layers
    split_layer: int | None = None  # prettr: query and passage meet after layer l (None: 3)
    pooling: str | None = None  # dot: cls | mean; None: the model's
    similarity: str | None = None  # dot/colbert: dot | cosine; None: the model's
    colbert_dim: int | None = None  # colbert: compress term vectors; None: the model's
    allow_pickle: bool = False  # load a pickled (.bin) checkpoint: runs code from the file
    trust_remote_code: bool = False  # run a hub model's own Python code
    loss: str = "margin-mse"
    # Hybrid objective: loss + label_weight * label_loss (a label loss: ranknet | ce), and
    # label-consistent teacher targets: margins below teacher_margin_floor raised to it.
    label_loss: str | None = None
    label_weight: float = 1.0
    teacher_margin_floor: float | None = None
    temperature: float = 1.0  # kl: softmax temperature of student and teacher
    steps: int = 100  # optimizer steps
    # Training data: DATA's train split (mined triples, dev slice, validation) and/or a triples file.
    data: str | None = None
    split: str = "train"
    triples: str | None = None  # text triples, id triples or teacher scores (auto-detected)
    teacher_scores: tuple[str, ...] = ()  # one or more score files; several = ensemble mean
    teacher_normalize: str = (
        "none"  # none | zscore | minmax | query-zscore, per teacher before averaging
    )
    # Mining (without --triples): positives from qrels, negatives from BM25 (or --negatives-run) top-k.
    mine_depth: int = 50
    triples_per_positive: int = 8
    negatives: int = 1  # negatives per training example (k); kl/ce use k > 1
    negatives_run: str | None = None  # a TREC run over the train queries to mine negatives from
    dev_queries: int = 50  # train queries held out for validation (never trained on)
    # Optimisation.
    batch_size: int = 16  # triples per optimizer step, over all processes
    grad_accum: int = 1  # micro-batches per step (batch_size must divide evenly)
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    warmup_steps: int | None = None  # None: 10% of steps
    max_grad_norm: float = 1.0  # 0: no clipping
    max_query_len: int = 32
    max_doc_len: int = 128
    score_scale: float | None = None  # dot/colbert score multiplier; None: the model's
    learn_score_scale: bool = False  # learn a multiplier on the scores (saved in the spec)
    score_scale_learning_rate: float = 0.02  # AdamW rate of the learned log-multiplier
    dropout: float | None = None  # override every dropout probability (0 for exact DDP tests)
    seed: int = 42
    device: str = "auto"
    precision: str = "fp32"  # fp16 (with a grad scaler) and bf16 autocast on CUDA
    # Validation on the dev slice: BM25 top-`validate_depth` re-ranked, nDCG@10.
    validate_every: int = 0  # steps; 0: only at the end
    validate_depth: int = 30
    patience: int = 0  # validations without improvement before stopping; 0: never
    # Checkpoints and logs.
    checkpoint_every: int = 0  # steps; 0: only at the end
    keep_checkpoints: int = 2  # newest step checkpoints kept (0: keep all)
    resume: bool = False
    quiet: bool = False
    report_sample: int = 256  # training triples the student's margins are measured on (0: none)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form provenance (e.g. a study stage)

    def __post_init__(self) -> None:
        for name in (
            "steps",
            "batch_size",
            "grad_accum",
            "max_query_len",
            "max_doc_len",
            "mine_depth",
            "triples_per_positive",
            "negatives",
            "validate_depth",
        ):
            if getattr(self, name) < 1:
                raise UserError(
                    f"--{name.replace('_', '-')}: must be at least 1, got {getattr(self, name)}"
                )
        for name in (
            "dev_queries",
            "validate_every",
            "patience",
            "checkpoint_every",
            "keep_checkpoints",
            "report_sample",
        ):
            if getattr(self, name) < 0:
                raise UserError(
                    f"--{name.replace('_', '-')}: must be zero or positive, got {getattr(self, name)}"
                )
        if self.batch_size % self.grad_accum:
            raise UserError(
                f"--batch-size {self.batch_size} is not a multiple of --grad-accum {self.grad_accum}; "
                "the global batch is split into equal micro-batches"
            )
        if self.learning_rate <= 0 or self.score_scale_learning_rate <= 0:
            raise UserError("--learning-rate and --score-scale-learning-rate must be positive")
        if self.warmup_steps is not None and not 0 <= self.warmup_steps <= self.steps:
            raise UserError(
                f"--warmup-steps {self.warmup_steps}: must be between 0 and --steps {self.steps}"
            )
        if self.layers is not None and self.layers < 1:
            raise UserError(f"--layers: must be at least 1, got {self.layers}")
        if self.split_layer is not None and self.split_layer < 1:
            raise UserError(f"--split-layer: must be at least 1, got {self.split_layer}")
        if self.precision not in PRECISIONS:
            raise UserError(
                f"--precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}"
            )
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise UserError(
                f"--device {self.device!r}: choose one of {', '.join(DEVICES)} (or cuda:N)"
            )
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise UserError(f"--dropout {self.dropout}: must be in [0, 1)")
        if self.score_scale is not None and self.score_scale <= 0:
            raise UserError(f"--score-scale {self.score_scale}: must be positive")
        from kdbench.data.teacher_scores import NORMALIZATIONS

        if self.teacher_normalize not in NORMALIZATIONS:
            raise UserError(
                f"--teacher-normalize {self.teacher_normalize!r}: choose one of "
                f"{', '.join(NORMALIZATIONS)}"
            )
        if self.data is None and self.triples is None and not self.teacher_scores:
            raise UserError(
                "no training data: pass --data (mine triples from its train split) or --triples FILE"
            )
        from kdbench.losses import get_loss

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
        from kdbench.losses import get_loss, label_losses

        for name, value in (
            ("--label-weight", self.label_weight),
            ("--temperature", self.temperature),
            ("--teacher-margin-floor", self.teacher_margin_floor),
        ):
            if value is not None and not math.isfinite(value):
                raise UserError(f"{name} {value}: must be a finite number")
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
        if self.label_weight < 0:
            raise UserError(f"--label-weight {self.label_weight}: must be zero or positive")
        if self.teacher_margin_floor is not None and not loss.needs_teacher:
            raise UserError(
                f"--teacher-margin-floor floors a teacher's margins; --loss {loss.name} has no teacher"
            )
        if self.temperature <= 0:
            raise UserError(f"--temperature {self.temperature}: must be positive")
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

    def to_dict(self) -> dict[str, Any]:
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
        text = json.dumps(relevant, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _same(value: Any, default: Any) -> bool:
    if default is dataclasses.MISSING:
        return False
    if isinstance(default, tuple):
        return list(value) == list(default)
    return bool(value == default)
