"""The conformance registry: every public bijector, built with random parameters.

Each area of the library keeps its entries in its own module here; ``ENTRIES`` joins them.
An entry is ``name -> build(key) -> (bijector, condition_or_None, x_or_None)``; ``name``
is the public class (or constructor) name, optionally followed by ``[variant]``.
"""

from .autoregressive import ENTRIES as AUTOREGRESSIVE_ENTRIES
from .core import ENTRIES as CORE_ENTRIES
from .image import ENTRIES as IMAGE_ENTRIES
from .memory import ENTRIES as MEMORY_ENTRIES
from .tarflow import ENTRIES as TARFLOW_ENTRIES

ENTRIES = {
    **CORE_ENTRIES,
    **AUTOREGRESSIVE_ENTRIES,
    **IMAGE_ENTRIES,
    **MEMORY_ENTRIES,
    **TARFLOW_ENTRIES,
}
