"""Re-export for ``flowkit/fitting/_fit_steps.py`` (outside this area) until it imports
``has_batch_norm`` from ``flowkit._engine._batch_layers`` itself."""

from .._engine._batch_layers import has_batch_norm as has_batch_norm
