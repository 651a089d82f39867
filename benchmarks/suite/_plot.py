"""PNG figures of a run (matplotlib, on an Agg canvas: no display, no global backend set)."""

from pathlib import Path

from ._report import BEST_PEER_LIMIT


def plot(result: dict, path: Path) -> Path | None:
    """Compile time against depth (training step, log_prob) and peer ratios, in one PNG.

    Training-step memory against depth is ``benchmarks/memory_backprop.py``'s.

    Returns None (and writes nothing) when matplotlib is not installed.
    """
    try:
        import matplotlib.ticker
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(13, 3.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    depth = [r for r in result["depth"] if r.get("status") == "ok"]
    series = sorted({(r["factory"], r["library"]) for r in depth})
    for factory, library in series:
        rows = sorted(
            (r for r in depth if (r["factory"], r["library"]) == (factory, library)),
            key=lambda r: r["depth"],
        )
        d = [r["depth"] for r in rows]
        style = "--" if library != "flowkit" else "-"
        label = factory if library == "flowkit" else f"{factory} ({library})"
        train = [r["compile_train_cpu_s"] for r in rows]
        axes[0].plot(d, train, style, marker="o", label=label)
        axes[1].plot(d, [r["compile_log_prob_cpu_s"] for r in rows], style, marker="o", label=label)
    for ax, title in (
        (axes[0], "Compile time of a training step"),
        (axes[1], "Compile time of log_prob"),
    ):
        ax.set(title=title, xlabel="layers", ylabel="CPU seconds (trace+lower+compile)")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ticks = sorted({r["depth"] for r in depth})
        ax.set_xticks(ticks, labels=[str(t) for t in ticks])
        ax.set_ylim(bottom=0)
        if ax.has_data():
            ax.legend(fontsize=7)
    peers = result["peers"]
    if peers:
        labels = [f"{r['case']} {r['op'].replace('sample_and_log_prob', 's+lp')}" for r in peers]
        xs = range(len(peers))
        for i, (key, name) in enumerate(
            (("flowkit/best", "vs best peer"), ("flowkit/floor", "vs floor"))
        ):
            vals = [r.get(key, float("nan")) for r in peers]
            axes[2].bar([x + 0.4 * i for x in xs], vals, width=0.4, label=f"flowkit {name}")
        axes[2].axhline(1.0, color="k", lw=0.8)
        axes[2].axhline(BEST_PEER_LIMIT, color="k", lw=0.8, ls=":", label="target vs best peer")
        ratios = [r.get(k) for r in peers for k in ("flowkit/best", "flowkit/floor")]
        top = max([v for v in ratios if v is not None] + [1.0])
        axes[2].set_ylim(0, min(top * 1.05, 3.0))  # a load burst must not flatten the rest
        axes[2].set_xticks([x + 0.2 for x in xs], labels=labels, rotation=90, fontsize=6)
        axes[2].set(title="flowkit time ratio (lower is faster)")
        axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    return path
