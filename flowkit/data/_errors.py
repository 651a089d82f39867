"""The one error type of the data package: a source that cannot be used as it is."""

import os


class DataError(ValueError):
    """A data set that cannot be read or used: an unknown name, a missing, truncated or
    malformed file, a download that failed, or a loader setting that does not fit the data.
    The message, ``"{where}: {problem}"``, names the file (or data set) and says what was
    wrong and how to fix it.

    Args:
        where: the file or data set name; kept as ``str`` in ``self.where``.
        problem: what was wrong and how to fix it; kept in ``self.problem``.
    """

    def __init__(self, where: str | os.PathLike, problem: str):
        self.where = str(where)
        self.problem = problem
        super().__init__(f"{where}: {problem}")
