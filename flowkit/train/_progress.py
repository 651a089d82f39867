"""The training progress bar: loss, bits/dim and throughput (tqdm)."""

import sys


class Progress:
    """A tqdm bar over steps (or nothing when disabled); messages go above it."""

    def __init__(self, total: int, initial: int, enabled: bool):
        self.bar = None
        self.enabled = enabled
        if enabled:
            from tqdm.auto import tqdm  # imported only when a bar is made

            self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)
        self.rate: float | None = None

    def update(self, record: dict) -> None:
        """Advance one step and show the record's loss, bpd and a smoothed examples/s."""
        if self.bar is None:
            return
        rate = record.get("examples_per_s")
        if rate is not None:
            self.rate = rate if self.rate is None else 0.9 * self.rate + 0.1 * rate
        shown = {"loss": f"{record['loss']:.4g}"}
        if "bpd" in record:
            shown["bpd"] = f"{record['bpd']:.4g}"
        if self.rate is not None:
            shown["ex/s"] = f"{self.rate:.4g}"
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)

    def write(self, message: str) -> None:
        if self.bar is None:
            print(message, file=sys.stderr, flush=True)
        else:
            self.bar.write(message, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
