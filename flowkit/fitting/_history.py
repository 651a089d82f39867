"""What :func:`flowkit.fit` did, epoch by epoch."""

import dataclasses
import math


@dataclasses.dataclass
class FitHistory:
    """Per-epoch losses of a :func:`flowkit.fit` run (``metric``: "nll" or "bits/dim").

    ``train_loss[e]`` is the mean training loss over epoch ``e + 1``'s finite steps,
    ``val_loss[e]`` the validation loss after it; ``step_loss`` has every step's loss.
    ``best_epoch`` (1-based; 0 means the initial flow was never beaten) is the epoch whose
    parameters were returned.
    """

    metric: str
    train_loss: list[float] = dataclasses.field(default_factory=list)
    val_loss: list[float] = dataclasses.field(default_factory=list)
    step_loss: list[float] = dataclasses.field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = math.inf
    initial_val_loss: float = math.nan
    stopped_early: bool = False
    skipped_steps: int = 0
    steps: int = 0
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        """How many epochs ran."""
        return len(self.train_loss)

    def to_dict(self) -> dict:
        """JSON values (for metrics files)."""
        return {**dataclasses.asdict(self), "epochs": self.epochs}
