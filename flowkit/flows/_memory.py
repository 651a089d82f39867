"""Re-export for ``flowkit/fitting/_fit_steps.py`` (outside this area) until it imports
``with_memory_mode`` from ``flowkit._engine._with_memory_mode`` itself."""

from .._engine._with_memory_mode import with_memory_mode as with_memory_mode
