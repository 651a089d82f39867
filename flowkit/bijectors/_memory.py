"""Re-export for ``flowkit/flows/_flow.py`` (outside this area) until it imports
``apply_to_batch`` from ``flowkit._engine._memory_mode`` itself."""

from .._engine._memory_mode import apply_to_batch as apply_to_batch
