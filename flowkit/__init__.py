"""flowkit: normalizing flows for JAX, built on Equinox.

One event per call: a bijector maps one example; batches go through ``jax.vmap``, or
through :class:`Flow`, whose ``log_prob`` and ``sample`` take leading batch dimensions.

``import flowkit`` is kept light: the subpackages below that pull in heavy dependencies
(``train``: optax/orbax, ``data.Loader``: Grain, ``plots``: matplotlib) and distrax (TensorFlow
Probability, only when a base distribution or ``ToDistrax`` is made) load on first use.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from .bijectors import *  # noqa: F403  (the public bijectors; see flowkit/bijectors/__init__.py)
from .data import TOY_DATASETS as TOY_DATASETS
from .data import checkerboard as checkerboard
from .data import circles as circles
from .data import gaussian_mixture as gaussian_mixture
from .data import two_moons as two_moons
from .flows import *  # noqa: F403
from .io import ModelFileError as ModelFileError
from .io import load as load
from .io import model_info as model_info
from .io import save as save
from .nn import *  # noqa: F403
from .train import Evaluation as Evaluation
from .train import FitHistory as FitHistory
from .train import elbo as elbo
from .train import evaluate as evaluate
from .train import fit as fit
from .train import fit_variational as fit_variational
from .train import summarize as summarize
from .train import validation_split as validation_split

if _TYPE_CHECKING:
    from . import bijectors as bijectors
    from . import data as data
    from . import distributed as distributed
    from . import flows as flows
    from . import io as io
    from . import nn as nn
    from . import plots as plots
    from . import testing as testing
    from . import train as train
    from .bijectors import ToDistrax as ToDistrax

__version__ = "0.1.0"

# Subpackages reachable as ``flowkit.<name>`` after ``import flowkit``, imported on first
# access (PEP 562) so that a user who only builds flows never imports optax's checkpointing,
# Grain or matplotlib.
_SUBPACKAGES = (
    "bijectors",
    "data",
    "distributed",
    "flows",
    "io",
    "nn",
    "plots",
    "testing",
    "train",
)
# Top-level names whose modules import distrax: forwarded to the subpackage that loads them.
_LAZY = {"ToDistrax": "bijectors"}


def __getattr__(name: str):
    import importlib

    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBPACKAGES) | set(_LAZY))
