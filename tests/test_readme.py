"""The README's examples marked `<!-- readme-example: NAME -->` run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _examples() -> dict[str, str]:
    text = README.read_text()
    return dict(re.findall(r"<!-- readme-example: (\w+) -->\s*```python\n(.*?)```", text, flags=re.S))


@pytest.mark.parametrize("name", sorted(_examples()))
def test_readme_example_runs(name, capsys):
    exec(compile(_examples()[name], f"README:{name}", "exec"), {})
    assert capsys.readouterr().out.strip()


def test_there_is_a_processor_example():
    assert "processor" in _examples()
