"""flowkit: normalizing flows for JAX, built on Equinox.

One event per call: a bijector maps one example; batches go through ``jax.vmap``, or
through :class:`Flow`, whose ``log_prob`` and ``sample`` take leading batch dimensions.
"""

from . import testing as testing
from .bijectors import *  # noqa: F403  (the public bijectors; see flowkit/bijectors/__init__.py)
from .fitting import Evaluation as Evaluation
from .fitting import FitHistory as FitHistory
from .fitting import evaluate as evaluate
from .fitting import fit as fit
from .fitting import summarize as summarize
from .fitting import validation_split as validation_split
from .flows import *  # noqa: F403
from .io import ModelFileError as ModelFileError
from .io import load as load
from .io import model_info as model_info
from .io import save as save
from .nn import *  # noqa: F403

__version__ = "0.1.0"
