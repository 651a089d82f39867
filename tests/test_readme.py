"""The README's code runs as written, and its set-up commands are the ones CI uses."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_example_runs(capsys):
    (code,) = _blocks("python")
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102
    assert namespace["samples"].shape == (16, 4)
    assert namespace["cflow"].cond_shape == (10,)
    assert "(128,)" in capsys.readouterr().out


def test_readme_commands_match_ci():
    install, tests = _blocks("bash")[:2]
    ci = (README.parent / ".ci" / "run").read_text()
    assert 'pip install -c constraints.txt -e ".[dev]"' in install and "flowkit train" in install
    assert 'pip install -q -c constraints.txt -e ".[dev]"' in ci
    assert tests.strip() == "python -m pytest -n 2 -q"
    assert "run_pytest -n 2 -q\n" in ci
