"""Flows (a bijector over a distrax base), base distributions, factories and toy data."""

from ._bases import make_base as make_base
from ._bases import standard_logistic as standard_logistic
from ._bases import standard_normal as standard_normal
from ._bases import uniform as uniform
from ._factories import nice as nice
from ._factories import realnvp as realnvp
from ._factories_autoregressive import iaf as iaf
from ._factories_autoregressive import maf as maf
from ._factories_autoregressive import nsf as nsf
from ._flow import Flow as Flow
from ._frozen_base import FrozenBase as FrozenBase
from ._frozen_base import trainable_filter as trainable_filter
from ._recipe import flow_factory as flow_factory
from ._toys import TOY_DATASETS as TOY_DATASETS
from ._toys import checkerboard as checkerboard
from ._toys import circles as circles
from ._toys import gaussian_mixture as gaussian_mixture
from ._toys import two_moons as two_moons
from ._vi import elbo as elbo
from ._vi import fit_variational as fit_variational
