"""User errors: reported as one clear line, never a traceback."""


class UserError(Exception):
    """A mistake in the command line or the inputs it names (bad choice, path or shape)."""


def choice_error(what: str, got: str, valid) -> UserError:
    """``UserError`` for an unknown choice, listing the valid ones."""
    return UserError(f"unknown {what} {got!r}; valid choices: {', '.join(sorted(valid))}")
