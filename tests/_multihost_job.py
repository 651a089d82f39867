"""A small multi-process training job for tests/test_multihost.py (not collected by pytest).

``python tests/_multihost_job.py OUT [--kinds shard,pmap] [--steps N] [--batch-size B]
[--delay S]``: joins the run described by the FLOWKIT_* variables (flowkit launch sets
them; none: one process), then for each kind trains RealNVP on the 8x8 digits from a
flowkit.data.Loader (each process reads its share of every global batch) with that step
flavour, a checkpoint every 4 steps in OUT/KIND/checkpoints (resumed when there), metrics in
OUT/KIND/metrics.jsonl and the final state in OUT/KIND/final.npz (process 0 writes).
``run`` is also called in-process by the tests for the one-process reference.
"""

import argparse
import sys
import time
from pathlib import Path

CHECKPOINT_EVERY = 4


def run(out: Path, kind: str, *, steps: int, batch_size: int = 32, delay: float = 0.0) -> int:
    """Train with ``kind`` ("shard" or "pmap"); returns the step resumed from."""
    import equinox as eqx
    import jax
    import numpy as np

    import flowkit as fk
    from flowkit import data, train

    dataset = data.load_dataset("digits", num_examples=512)
    loader = data.Loader(dataset, batch_size=batch_size, seed=3, flatten=True, prefetch=0)
    optimizer = train.default_optimizer(steps, learning_rate=2e-3, warmup_steps=2)
    if kind == "shard":
        mesh = train.data_mesh()
        step, prepare = train.make_sharded_step(optimizer), lambda b: data.to_global_array(b, mesh)
    else:
        step, prepare = train.make_pmap_step(optimizer), data.to_pmap_batch
    prepare({"x": loader.batch(0)["x"]})  # a batch that does not fit the devices fails here
    flow = fk.realnvp(jax.random.key(1), dim=64, num_layers=2, width=32)
    run_dir = train.RunDir(out / kind, resume=True, checkpoint_every=CHECKPOINT_EVERY)
    result = train.train_loop(
        jax.random.key(2),
        step,
        flow,
        train.init_opt_state(optimizer, flow),
        loader,
        steps_per_epoch=steps,
        stopping=train.Stopping(epochs=1),
        run=run_dir,
        progress=False,
        prepare_batch=lambda b: (time.sleep(delay), prepare({"x": b["x"]}))[1],
    )
    if jax.process_index() == 0:
        state = (result.model, result.opt_state)
        leaves = jax.tree_util.tree_leaves(eqx.filter(state, eqx.is_array))
        np.savez(out / kind / "final.npz", *[np.asarray(x) for x in leaves])
    return result.resumed_from


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--kinds", default="shard")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args(argv)

    from flowkit import distributed

    try:
        distributed.initialize()
    except distributed.DistributedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    import jax

    from flowkit.data import DataError

    for kind in args.kinds.split(","):
        try:
            resumed = run(
                args.out, kind, steps=args.steps, batch_size=args.batch_size, delay=args.delay
            )
        except (DataError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"{kind} process={jax.process_index()} resumed_from={resumed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
