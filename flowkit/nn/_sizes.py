"""One check for the sizes a network is built from (widths, depths, feature counts)."""


def check_sizes(owner: str, minimum: int, **sizes: int | None) -> None:
    """Raise a one-line ``ValueError`` unless every size given is an int ``>= minimum``.

    Args:
        owner: the name the message starts with (``"MLP"``, ...).
        minimum: the smallest size allowed (1 for widths, 0 for a depth that may be empty).
        **sizes: the sizes by name; ``None`` (an absent optional size) is skipped.

    Raises:
        ValueError: a size is below ``minimum`` or not an int; the message names it.
    """
    for name, size in sizes.items():
        if size is None:
            continue
        if isinstance(size, bool) or not isinstance(size, int) or size < minimum:
            raise ValueError(f"{owner}: {name} must be an int >= {minimum}; got {size!r}.")
