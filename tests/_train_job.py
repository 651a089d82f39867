"""A small training job for the kill-and-resume test (not collected by pytest).

``python tests/_train_job.py OUT NUM_STEPS DELAY``: RealNVP on two moons with the one-device
step, a checkpoint every 4 steps in OUT/ck, metrics in OUT/metrics.jsonl, the final
parameters in OUT/final.npz; resumes from OUT/ck when it holds a checkpoint. DELAY seconds
of sleep after each step give the test time to kill it mid-run.
"""

import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

import flowkit as fk
from flowkit import train


def main(out: Path, num_steps: int, delay: float) -> None:
    flow = fk.realnvp(jax.random.key(1), dim=2, num_layers=2, width=16)
    data = np.asarray(fk.two_moons(jax.random.key(0), 1024))
    optimizer = train.default_optimizer(num_steps, learning_rate=3e-3, warmup_steps=5)
    with train.Checkpointer(out / "ck", max_to_keep=2) as checkpointer:
        result = train.train_loop(
            train.make_step(optimizer),
            flow,
            train.init_opt_state(optimizer, flow),
            train.ArrayBatches(data, batch_size=64, seed=0),
            key=jax.random.key(2),
            num_steps=num_steps,
            checkpointer=checkpointer,
            checkpoint_every=4,
            metrics_path=out / "metrics.jsonl",
            config={"model": "realnvp", "data": "moons", "steps": num_steps},
            progress=False,
            on_record=lambda record: time.sleep(delay),
        )
    leaves = jax.tree_util.tree_leaves(eqx.filter((result.model, result.opt_state), eqx.is_array))
    np.savez(out / "final.npz", *[np.asarray(x) for x in leaves])
    print(f"resumed_from={result.resumed_from}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
