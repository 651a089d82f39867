"""Re-export for the step makers in ``flowkit/train`` (outside this area) until they import
``memory_loss`` from ``flowkit._engine._with_memory_mode`` itself."""

from .._engine._with_memory_mode import memory_loss as memory_loss
