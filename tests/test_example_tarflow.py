"""examples/tarflow.py runs in quick mode and writes its figures and metrics."""

from .test_examples import assert_pngs, finite, run_example


def test_tarflow_example(tmp_path):
    m = run_example("tarflow", tmp_path)
    assert_pngs(tmp_path, "samples.png", "training_curve.png")
    assert m["blocks"] == 2 and m["samples_finite"]
    assert finite(m["test_bits_per_dim"], m["final_train_bits_per_dim"])
    assert 0 < m["test_bits_per_dim"] < 20
