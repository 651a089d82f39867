"""The ``flowkit`` command line: ``flowkit train``, ``flowkit bench`` and friends."""

from ._main import main as main
