"""A trained flow's life in user code: evaluation, one-call fit to data (with flowkit.train)
and variational fit to a log-density. Every function that draws takes the key first."""

from ._evaluate import evaluate as evaluate
from ._evaluate import scores as scores
from ._fit import fit as fit
from ._fit_variational import elbo as elbo
from ._fit_variational import fit_variational as fit_variational
from ._history import FitHistory as FitHistory
from ._split import validation_split as validation_split
from ._stats import Evaluation as Evaluation
from ._stats import summarize as summarize
