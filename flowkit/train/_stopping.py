"""When a training run stops: an epoch cap, a step cap and early-stopping patience."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Stopping:
    """How long :func:`flowkit.fit` trains.

    Args:
        epochs: at most this many epochs (passes over the training data; the last partial
            batch of each epoch is dropped, so every step sees ``batch_size`` examples).
        patience: stop after this many epochs without a better validation loss.
        max_steps: at most this many optimiser steps in all (None: the epochs decide).

    Raises:
        ValueError: a count below 1.
    """

    epochs: int = 100
    patience: int = 10
    max_steps: int | None = None

    def __post_init__(self):
        if self.epochs < 1 or self.patience < 1 or (self.max_steps or 1) < 1:
            raise ValueError(
                f"Stopping: need epochs >= 1, patience >= 1 and max_steps >= 1 (or None); "
                f"got {self.epochs}, {self.patience}, {self.max_steps}."
            )

    def total_steps(self, steps_per_epoch: int) -> int:
        """The step budget: ``epochs * steps_per_epoch``, or ``max_steps`` if smaller.

        Args:
            steps_per_epoch: full batches per epoch.

        Returns:
            The most steps the run takes (early stopping may end it sooner).
        """
        budget = self.epochs * steps_per_epoch
        return budget if self.max_steps is None else min(budget, self.max_steps)


DEFAULT_STOPPING = Stopping()  # 100 epochs, patience 10, no step cap
