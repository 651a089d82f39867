"""Summary statistics of per-example losses that stay readable when a few examples explode."""

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Per-example scores (NLL in nats, or bits/dim for images) and their summary.

    Summaries are over the finite values. A mean far above the median means a few
    examples dominate it: look at ``worst``. Build one with :func:`summarize`.

    Args:
        metric: ``"nll"`` or ``"bits/dim"``.
        values: the per-example scores, shape ``(N,)`` (float64).
        mean: their mean.
        stderr: the standard error of the mean, ``std(ddof=1) / sqrt(n)``.
        median: their median.
        p01: their 1st percentile.
        p99: their 99th percentile.
        worst: indices of the highest scores, worst first (non-finite before finite),
            shape ``(num_worst,)``.
        num_nonfinite: how many scores are NaN or infinite.
        num_draws: dequantization draws averaged per example.
    """

    metric: str
    values: np.ndarray
    mean: float
    stderr: float
    median: float
    p01: float
    p99: float
    worst: np.ndarray
    num_nonfinite: int
    num_draws: int = 1

    @property
    def num_examples(self) -> int:
        """How many examples were scored."""
        return int(self.values.shape[0])

    def to_dict(self) -> dict:
        """The summary as JSON values (without the per-example ``values``)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out.pop("values")
        out["worst"] = [int(i) for i in self.worst]
        out["num_examples"] = self.num_examples
        return out

    def __str__(self) -> str:
        return (
            f"{self.metric}: {self.mean:.4f} +/- {self.stderr:.4f} (mean +/- s.e., "
            f"{self.num_examples} examples), median {self.median:.4f}, "
            f"1%-99% [{self.p01:.4f}, {self.p99:.4f}], non-finite {self.num_nonfinite}, "
            f"worst {[int(i) for i in self.worst[:5]]}"
        )


def summarize(values, metric: str, *, num_worst: int = 10, num_draws: int = 1) -> Evaluation:
    """Summarise per-example scores (higher is worse).

    Args:
        values: the scores, any shape (flattened to ``(N,)``).
        metric: the name of the score, e.g. ``"nll"``.
        num_worst: how many indices of the worst scores to keep.
        num_draws: recorded in the result (draws averaged per example).

    Returns:
        An :class:`Evaluation`; its statistics are NaN when no score is finite.
    """
    values = np.asarray(values, np.float64).reshape(-1)
    finite = np.isfinite(values)
    kept = values[finite]
    n = kept.size
    if n:
        mean, median = float(kept.mean()), float(np.median(kept))
        p01, p99 = (float(p) for p in np.percentile(kept, [1.0, 99.0]))
    else:
        mean = median = p01 = p99 = math.nan
    stderr = float(kept.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    # Non-finite scores (NaN, +/-inf) rank as the worst; stable sort keeps index order in ties.
    rank = np.where(finite, values, np.inf)
    worst = np.argsort(-rank, kind="stable")[:num_worst]
    return Evaluation(
        metric=metric,
        values=values,
        mean=mean,
        stderr=stderr,
        median=median,
        p01=p01,
        p99=p99,
        worst=worst,
        num_nonfinite=int((~finite).sum()),
        num_draws=num_draws,
    )
