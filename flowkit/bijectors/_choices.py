"""The one check and message for a string option that takes one of a fixed set of values."""

from collections.abc import Sequence


def check_choice(
    owner: str, option: str, value: object, choices: Sequence[str], *, also: str | None = None
) -> None:
    """Raise unless ``value`` is one of ``choices``, naming them all in one line.

    Args:
        owner: the public function or class named in the message, e.g. ``"nsf"``.
        option: the keyword that took ``value``, e.g. ``"kind"``.
        value: what came.
        choices: the valid values, the tuple of a ``Literal`` alias's arguments.
        also: what else the option accepts besides a name, listed after the names.

    Raises:
        ValueError: ``"<owner>: <option> must be one of 'a', 'b'; got 'c'."``
    """
    if value not in choices:
        names = ", ".join(map(repr, choices))
        other = f", {also}" if also else ""
        raise ValueError(f"{owner}: {option} must be one of {names}{other}; got {value!r}.")
