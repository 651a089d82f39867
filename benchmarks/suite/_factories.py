"""Every flowkit factory the suite times, found by name so a missing one is skipped cleanly."""

import dataclasses
from collections.abc import Callable
from typing import Any

import flowkit as fk


@dataclasses.dataclass(frozen=True)
class FactorySpec:
    """A factory under test: ``attr`` names it in ``flowkit``; ``kwargs`` are fixed options.

    ``kind`` is "vector" (the size is ``dim``) or "image" (the size is ``image_shape``);
    ``depth_arg`` is the keyword that sets the number of layers (for the depth curves).
    """

    label: str
    attr: str
    kind: str = "vector"
    kwargs: tuple[tuple[str, Any], ...] = ()
    depth_arg: str = "num_layers"

    def factory(self) -> Callable | None:
        """The factory function, or None when this flowkit build does not have it."""
        return getattr(fk, self.attr, None)

    def build(self, key, size, layers: int | None = None, **overrides) -> fk.Flow:
        """A flow of this kind for ``size`` (``dim`` or ``image_shape``) with ``layers``
        set through ``depth_arg`` (None: the factory's default); ``overrides`` are passed on."""
        factory = self.factory()
        if factory is None:
            raise LookupError(f"flowkit.{self.attr} is not in this build")
        kwargs = dict(self.kwargs)
        kwargs.update(overrides)
        if layers is not None:
            kwargs[self.depth_arg] = layers
        if self.kind == "vector":
            return factory(key=key, dim=size, **kwargs)
        return factory(key=key, image_shape=tuple(size), **kwargs)


FACTORIES = (
    FactorySpec("nice", "nice"),
    FactorySpec("realnvp", "realnvp"),
    FactorySpec("maf", "maf"),
    FactorySpec("iaf", "iaf"),
    FactorySpec("nsf-coupling", "nsf", kwargs=(("kind", "coupling"),)),
    FactorySpec("nsf-autoregressive", "nsf", kwargs=(("kind", "autoregressive"),)),
    FactorySpec("glow", "glow", "image", (("width", 32),), depth_arg="layers_per_scale"),
    FactorySpec(
        "realnvp-multiscale",
        "realnvp_multiscale",
        "image",
        (("width", 32), ("depth", 1)),
        depth_arg="final_layers",
    ),
)


def find(label: str) -> FactorySpec:
    """The spec named ``label``."""
    for spec in FACTORIES:
        if spec.label == label:
            return spec
    raise KeyError(f"no factory named {label!r}; expected one of {[f.label for f in FACTORIES]}")
