"""Which layers invertible backpropagation may rebuild from their outputs.

Invertible backprop (``MemoryMode(..., "invertible")``) keeps only a stack's output and
recomputes each layer's input with the opposite direction of that layer. That is right only
for layers whose two directions are both *one pass* and *exact in closed form*; every
other layer falls back to storing its input (rematerialisation), which is always right.

The declaration is explicit and conservative: a layer type counts only if it is registered
here (exact type, not subclasses), so an unknown or user-written layer is never rebuilt.
Register your own with :func:`register_exact_inverse`. A composite
(:class:`flowkit.AbstractComposite`) needs no registration: it is exact when all its
children are (its plumbing always is).
"""

from collections.abc import Callable

from ._actnorm import ActNorm
from ._autoregressive import InverseAutoregressive, MaskedAutoregressive
from ._batch_norm import BatchNorm
from ._composite import AbstractComposite, AbstractPlumbing, children
from ._conv1x1 import InvertibleConv1x1, InvertibleConv1x1LU
from ._coupling import Coupling
from ._elementwise import (
    Affine,
    Exp,
    Identity,
    LeakyReLU,
    Logit,
    Rescale,
    Scale,
    Sigmoid,
    Softplus,
    Tanh,
)
from ._embed import EmbedCondition
from ._logit_preprocess import LogitPreprocess
from ._permute import Permute, Reverse
from ._spline import RationalQuadraticSplineTransformer
from ._squeeze import Squeeze
from ._transformers import (
    AdditiveTransformer,
    AffineTransformer,
    SoftplusAffineTransformer,
    StandardizeTransformer,
)

Rule = bool | Callable[[object], bool]
_RULES: dict[type, Rule] = {}


def register_exact_inverse(cls: type, rule: Rule = True) -> None:
    """Declare whether layers of type ``cls`` (and its subclasses, unless they register
    themselves) have a cheap exact inverse.

    ``rule`` is a bool, or a function ``layer -> bool`` for wrappers whose answer depends on
    what they hold (e.g. a coupling is exact when its transformer is). Elementwise
    transformers (``AbstractTransformer`` subclasses) are registered the same way; a
    :class:`Coupling` is exact when its transformer's type is registered as exact.
    """
    _RULES[cls] = rule


def has_exact_cheap_inverse(layer: object) -> bool:
    """True when both directions of ``layer`` are one pass and exact in closed form.

    False for unregistered types: such a layer's input is stored instead of rebuilt.
    """
    if isinstance(layer, AbstractPlumbing):
        return True
    if isinstance(layer, AbstractComposite) and type(layer) not in _RULES:
        return all(has_exact_cheap_inverse(child) for child in children(layer))
    # The nearest registered class: AffineCoupling answers as the Coupling it is.
    rule = next((_RULES[c] for c in type(layer).__mro__ if c in _RULES), False)
    return bool(rule(layer)) if callable(rule) else bool(rule)


def _inner_exact(wrapper) -> bool:  # EmbedCondition: as exact as what it wraps
    return has_exact_cheap_inverse(wrapper.bijector)


def _transformer_exact(coupling) -> bool:
    # The conditioner sees the same kept entries in both directions, so a coupling is as
    # exact as its transformer.
    return has_exact_cheap_inverse(coupling.transformer)


def _batch_norm_exact(layer) -> bool:
    # Inference mode is a fixed affine map; training mode has no inverse at all.
    return bool(layer.inference)


# Closed-form, well-conditioned maps: affine, permutations, the 1x1 convolution (a C x C
# solve), squeezes, closed-form elementwise transformers (the spline's inverse is the root
# of a quadratic).
for _cls in (
    Identity,
    Affine,
    Rescale,
    Scale,
    Exp,
    LeakyReLU,
    Permute,
    Reverse,
    ActNorm,
    InvertibleConv1x1,
    InvertibleConv1x1LU,
    Squeeze,
    AffineTransformer,
    AdditiveTransformer,
    SoftplusAffineTransformer,
    StandardizeTransformer,
    RationalQuadraticSplineTransformer,
):
    register_exact_inverse(_cls)
# Saturating maps: in float32 sigmoid(20) == 1.0, whose logit is inf, so a rebuilt input
# could be wrong; their (event-sized) inputs are stored instead. Autoregressive layers: one
# direction takes D sequential passes (MAF's sampling, IAF's density), too dear to rebuild.
for _cls in (
    Sigmoid,
    Logit,
    Tanh,
    Softplus,
    LogitPreprocess,
    MaskedAutoregressive,
    InverseAutoregressive,
):
    register_exact_inverse(_cls, False)
register_exact_inverse(Coupling, _transformer_exact)
register_exact_inverse(EmbedCondition, _inner_exact)
register_exact_inverse(BatchNorm, _batch_norm_exact)
