"""A trained flow's life in user code: evaluation (and, with flowkit.train, one-call fit)."""

from ._evaluate import evaluate as evaluate
from ._evaluate import scores as scores
from ._stats import Evaluation as Evaluation
from ._stats import summarize as summarize
