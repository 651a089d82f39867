"""A trained flow's life in user code: evaluation (and, with flowkit.train, one-call fit)."""

from ._evaluate import evaluate as evaluate
from ._evaluate import scores as scores
from ._fit import fit as fit
from ._history import FitHistory as FitHistory
from ._split import validation_split as validation_split
from ._stats import Evaluation as Evaluation
from ._stats import summarize as summarize
