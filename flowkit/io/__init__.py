"""Saving and loading models: one file with the parameters and how to rebuild the flow."""

from ._format import FORMAT_VERSION as FORMAT_VERSION
from ._format import ModelFileError as ModelFileError
from ._model import load as load
from ._model import model_info as model_info
from ._model import save as save
from ._write import WriteError as WriteError

__all__ = ["FORMAT_VERSION", "ModelFileError", "WriteError", "load", "model_info", "save"]
