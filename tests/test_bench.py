"""The benchmark suite's smoke run through ``flowkit bench``: every part runs and writes its
outputs. Timings are not asserted (they are the suite's job, not the tests')."""

import json

from benchmarks.suite import smoke_config
from benchmarks.suite._peer_cases import has_module
from benchmarks.suite._report import OPS, targets
from flowkit.cli import _bench as bench_cli
from flowkit.cli import main


def test_bench_smoke_writes_json_markdown_and_plot(tmp_path, capsys):
    assert main(["bench", "--smoke", "--quiet", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    result = json.loads((tmp_path / "bench.json").read_text())
    assert (tmp_path / "bench.md").read_text() == result["markdown"]
    assert result["markdown"] in printed
    assert (tmp_path / "bench.png").stat().st_size > 1000

    (factory,) = result["factories"]
    assert factory["status"] == "ok", factory
    for op in OPS:
        assert factory[op]["median_ms"] > 0 and factory[op]["first_call_s"] > 0

    libraries = ["flowkit", "distrax", "floor"] + (["flowjax"] if has_module("flowjax") else [])
    assert [r["op"] for r in result["peers"]] == list(smoke_config().peer_ops)
    for row in result["peers"]:
        assert set(libraries) <= set(row), row.keys()
        assert row["flowkit/floor"] > 0
        assert row["best peer"] in libraries and row["flowkit/best cpu"] > 0
        # per round, the faster peer's time is at most either's: so is the median ratio
        assert row["flowkit/best"] >= max(row["flowkit/distrax"], row.get("flowkit/flowjax", 0))
    (train,) = [r for r in result["peers"] if r["op"] == "train"]
    assert set(train["compile"]) == set(libraries) - {"floor"}
    assert all(t["wall_s"] > 0 and t["cpu_s"] > 0 for t in train["compile"].values())
    assert "interleaved compiles after the first" in result["markdown"]
    (counts,) = result["peer_params"]
    assert counts["flowkit"] > 0 and counts["distrax"] > 0

    depths = [r["depth"] for r in result["depth"] if r["library"] == "flowkit"]
    assert depths == list(smoke_config().depths)
    assert "### Compile time against depth" in result["markdown"]
    assert result["environment"]["versions"]["jax"]


def test_bench_rejects_a_file_as_out(tmp_path, capsys):
    path = tmp_path / "not-a-folder"
    path.write_text("")
    assert main(["bench", "--smoke", "--out", str(path)]) == 2
    assert f"flowkit bench: error: --out must be a folder; {path} is a file" in (
        capsys.readouterr().err
    )


def test_bench_without_a_checkout_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench_cli, "CHECKOUT", tmp_path)  # as in a wheel: no benchmarks/
    assert main(["bench", "--smoke"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"flowkit bench: error: the benchmark suite is not installed (no {tmp_path}" in err
    assert 'pip install -e ".[bench]"' in err


def test_bench_rejects_zero_repeats(capsys):
    assert main(["bench", "--repeats", "0"]) == 2
    assert "--repeats must be >= 1; got 0" in capsys.readouterr().err


def test_bench_sizes_are_exclusive(capsys):
    try:
        status = main(["bench", "--smoke", "--full"])
    except SystemExit as exit_:  # argparse's own exit, where the parser does not catch it
        status = exit_.code
    assert status == 2
    assert "argument --full: not allowed with argument --smoke" in capsys.readouterr().err


def test_targets_need_the_wall_and_cpu_ratios_within_the_limit():
    def row(op, wall, cpu, **extra):
        return {"case": "A", "op": op, "best peer": "distrax", "flowkit/best": wall,
                "flowkit/best cpu": cpu, **extra}  # fmt: skip

    compile_times = {
        "flowkit": {"cpu_s": 2.0, "wall_s": 2.1},
        "flowjax": {"cpu_s": 2.5, "wall_s": 2.0},
        "distrax": {"cpu_s": 3.0, "wall_s": 3.0},
    }
    peers = [
        row("log_prob", 0.90, 0.94),
        row("sample", 0.90, 0.97),
        row("train", 0.99, 0.90, compile=compile_times),
    ]
    got = {t["target"]: (t["value"], t["other"], t["met"]) for t in targets(peers, [])}
    assert got == {
        "A log_prob: flowkit / best peer (distrax)": (0.90, 0.94, True),
        "A sample: flowkit / best peer (distrax)": (0.90, 0.97, False),
        "A train: flowkit / best peer (distrax)": (0.99, 0.90, False),
        # CPU seconds over the fastest peer's (flowjax); wall over the fastest wall (2.0)
        "A train compile: flowkit / fastest peer (flowjax; CPU, wall)": (0.8, 1.05, False),
    }
