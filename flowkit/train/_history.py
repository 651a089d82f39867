"""What a training run did, epoch by epoch (:class:`FitHistory`), as JSON too."""

import dataclasses
import math
from typing import Any


def _plain(value):
    """JSON has no NaN/inf: they are stored as the strings "nan", "inf", "-inf"."""
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def _number(value):
    return float(value) if value in ("nan", "inf", "-inf") else value


@dataclasses.dataclass
class FitHistory:
    """Per-epoch losses of a :func:`flowkit.fit` run.

    Args:
        metric: "nll" or "bits/dim".
        train_loss: ``train_loss[e]`` is the mean training loss over epoch ``e + 1``'s
            finite steps.
        val_loss: ``val_loss[e]`` is the validation loss after epoch ``e + 1`` (the
            epoch's mean training loss when there was no validation data).
        step_loss: every step's loss.
        best_epoch: the epoch whose parameters were returned (1-based; 0 means the initial
            flow was never beaten).
        best_val_loss: its validation loss.
        initial_val_loss: the validation loss of the flow before training.
        selected_on: what chose the flow: "validation", or "training loss" when there was
            no validation data.
        stopped_early: whether early stopping ended the run.
        skipped_steps: steps skipped for a non-finite loss or gradient.
        steps: steps run.
        seconds: wall-clock time of the run.
    """

    metric: str
    train_loss: list[float] = dataclasses.field(default_factory=list)
    val_loss: list[float] = dataclasses.field(default_factory=list)
    step_loss: list[float] = dataclasses.field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = math.inf
    initial_val_loss: float = math.nan
    selected_on: str = "validation"
    stopped_early: bool = False
    skipped_steps: int = 0
    steps: int = 0
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        """How many epochs ran."""
        return len(self.train_loss)

    def to_dict(self) -> dict:
        """JSON values (for metrics files; NaN and inf as strings)."""
        out: dict[str, Any] = {}
        for name, value in dataclasses.asdict(self).items():
            out[name] = [_plain(v) for v in value] if isinstance(value, list) else _plain(value)
        return {**out, "epochs": self.epochs}

    @classmethod
    def from_dict(cls, data: dict) -> "FitHistory":
        """The history written by :meth:`to_dict`.

        Args:
            data: a dict from :meth:`to_dict` (NaN and inf as strings).

        Returns:
            The history.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {}
        for name, value in data.items():
            if name in fields:
                values[name] = [_number(v) for v in value] if isinstance(value, list) else value
        for name in ("best_val_loss", "initial_val_loss"):
            values[name] = _number(values[name])
        return cls(**values)
