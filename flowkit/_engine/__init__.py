"""The engine: how a flow is run on a batch and differentiated (private).

One home for what walks a model built of composites (:class:`flowkit.AbstractComposite`):

* ``_modes``: the memory modes (``MemoryModeName``, ``MEMORY_MODES``, their check);
* ``_memory_mode``: :class:`MemoryMode`, the wrapper that differentiates a bijector the
  standard, remat or invertible way, ``apply_to_batch`` (what a Flow calls) and
  ``backprop_plan``;
* ``_with_memory_mode``: ``with_memory_mode(flow, mode)`` and ``memory_loss``, the
  training entry points' ``memory=``;
* ``_segments``: a model flattened into the segments invertible backprop walks, and
  ``rebuildable`` (from each class's ``exact_inverse`` / ``has_exact_inverse``);
* ``_invertible_backprop`` and ``_coupling_backprop``: the custom VJP;
* ``_batch_pass`` and ``_batch_layers``: the batch pass (ActNorm data init, batch-norm
  statistics) and its public functions ``data_init``, ``update_batch_norm_state``,
  ``advance_batch_norm``, ``batch_norm_inference``.

This package imports nothing at import time, so ``flowkit.flows._flow`` may import its
submodules without a cycle. The public names are re-exported by ``flowkit.flows``.
"""
