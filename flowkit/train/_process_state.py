"""An orbax item holding one JSON-able state per process (data-iterator states).

Each process writes ``process_<i>-of-<n>.json`` into the item's folder (the naming of Grain's
own orbax handler) and reads back its own file, so a multi-process run keeps every
process's iterator position. Bytes states (Grain's ``DataLoader``) are kept as text.
"""

import base64
import dataclasses
import json
from typing import Any

import jax
import orbax.checkpoint as ocp
from etils import epath


def _filename(directory, index: int, count: int) -> epath.Path:
    return epath.Path(directory) / f"process_{index}-of-{count}.json"


def _encode(state: Any) -> str:
    if isinstance(state, bytes):
        return json.dumps({"bytes_base64": base64.b64encode(state).decode("ascii")})
    return json.dumps({"json": state})


def _decode(text: str) -> Any:
    wrapped = json.loads(text)
    if "bytes_base64" in wrapped:
        return base64.b64decode(wrapped["bytes_base64"])
    return wrapped["json"]


class ProcessStateHandler(ocp.CheckpointHandler):
    """Saves and restores this process's JSON-able state."""

    def save(self, directory: epath.Path, args: "ProcessStateSave"):
        path = _filename(directory, jax.process_index(), jax.process_count())
        path.write_text(_encode(args.state))

    def restore(self, directory: epath.Path, args: "ProcessStateRestore | None" = None):
        index, count = jax.process_index(), jax.process_count()
        path = _filename(directory, index, count)
        if not path.exists():
            from ..data import DataError  # a ValueError the CLI reports as one line

            saved = sorted(p.name for p in epath.Path(directory).glob("process_*.json"))
            raise DataError(
                directory,
                f"no data-iterator state for process {index} of {count}; the checkpoint "
                f"holds {saved}. Resume with the process count it was saved with.",
            )
        return _decode(path.read_text())

    def metadata(self, directory: epath.Path):
        return None

    def finalize(self, directory: epath.Path):
        pass

    def close(self):
        pass


@ocp.args.register_with_handler(ProcessStateHandler, for_save=True)
@dataclasses.dataclass
class ProcessStateSave(ocp.args.CheckpointArgs):
    state: Any


@ocp.args.register_with_handler(ProcessStateHandler, for_restore=True)
@dataclasses.dataclass
class ProcessStateRestore(ocp.args.CheckpointArgs):
    pass
