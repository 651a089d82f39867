"""A class-conditional RealNVP on scikit-learn's 8x8 digits: every coupling's conditioner
also sees the one-hot class. Writes a grid of samples with one row per class, the test
bits/dim given the true class, and the accuracy of classifying test digits by Bayes' rule
with the flow's class-conditional likelihoods (argmax_c p(x | c), uniform prior).

    python examples/conditional.py           # 8 couplings of width 256, up to 150 epochs
    python examples/conditional.py --quick   # tiny, for the tests
"""

import time

import jax
import numpy as np
from _common import output_dir, parse_args, subset, write_metrics

import flowkit as fk
from flowkit import plots
from flowkit.data import DIGIT_LEVELS, load_dataset

NUM_CLASSES = 10


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    out = output_dir(args, "conditional")
    started = time.perf_counter()
    if args.quick:
        config = dict(layers=2, width=32, epochs=2, batch=64, train_n=256, test_n=100)
    else:
        config = dict(layers=8, width=256, epochs=150, batch=128, train_n=None, test_n=None)
    train_x, train_y = subset(load_dataset("digits", "train"), config["train_n"], args.seed)
    test_x, test_y = subset(load_dataset("digits", "test"), config["test_n"], args.seed)
    assert train_y is not None and test_y is not None
    train_x, test_x = train_x.reshape(len(train_x), 64), test_x.reshape(len(test_x), 64)
    one_hot = np.eye(NUM_CLASSES, dtype=np.float32)

    key = jax.random.key(args.seed)
    k_model, k_fit, k_sample = jax.random.split(key, 3)
    flow = fk.realnvp(
        k_model, dim=64, num_layers=config["layers"], width=config["width"], cond_shape=10
    )
    n_val = len(train_x) // 10  # held out for fit's early stopping
    flow, history = fk.fit(
        k_fit,
        flow,
        (train_x[n_val:], one_hot[train_y[n_val:]]),
        validation=(train_x[:n_val], one_hot[train_y[:n_val]]),
        loss=fk.BitsPerDim(num_levels=DIGIT_LEVELS),
        stopping=fk.Stopping(epochs=config["epochs"], patience=15),
        batch_size=config["batch"],
        progress=False,
    )
    # fit's validation batch size: one compiled scoring function for everything below
    score = dict(batch_size=n_val, num_levels=DIGIT_LEVELS)
    given_label = fk.evaluate(flow, test_x, condition=one_hot[test_y], **score)
    per_class = np.stack(
        [
            fk.evaluate(flow, test_x, condition=one_hot[c], **score).values
            for c in range(NUM_CLASSES)
        ],
        axis=1,
    )  # bits/dim of every test digit under every class
    accuracy = float((per_class.argmin(axis=1) == test_y).mean())
    print(f"test {given_label}; Bayes-rule accuracy {accuracy:.3f}")

    labels = np.repeat(np.arange(NUM_CLASSES), NUM_CLASSES)
    samples = flow.sample(k_sample, condition=one_hot[labels], temperature=0.8)  # one per label
    plots.image_grid(
        out / "samples_by_class.png",
        np.asarray(samples),
        image_shape=(8, 8, 1),
        cols=NUM_CLASSES,
        row_labels=[str(c) for c in range(NUM_CLASSES)],
        title="class-conditional RealNVP (T=0.8)",
    )
    plots.training_curve(
        out / "training_curve.png",
        range(1, history.epochs + 1),
        history.train_loss,
        ylabel="bits/dim (per epoch)",
        validation=(list(range(1, history.epochs + 1)), history.val_loss),
    )
    return write_metrics(
        out,
        {
            "example": "conditional",
            "data": "digits (8x8, 17 levels)",
            "quick": args.quick,
            **config,
            "epochs_run": history.epochs,
            "best_epoch": history.best_epoch,
            "test_bits_per_dim": given_label.mean,
            "test_bits_per_dim_stderr": given_label.stderr,
            "bayes_accuracy": accuracy,
            "samples_finite": bool(np.isfinite(np.asarray(samples)).all()),
            "reference": "no published figure for 8x8 digits; chance accuracy 0.1",
        },
        started,
    )


if __name__ == "__main__":
    main()
