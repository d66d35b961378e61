"""The README's code examples run as written."""

from __future__ import annotations

import re

from ridestream.paths import PROJECT_ROOT


def readme_example(name: str) -> str:
    """Return the python block that follows ``<!-- readme-test: name -->`` in README.md."""
    text = (PROJECT_ROOT / "README.md").read_text()
    match = re.search(rf"<!-- readme-test: {name} -->\n```python\n(.*?)```", text, re.DOTALL)
    assert match, f"README.md has no python block marked readme-test: {name}"
    return match.group(1)


def test_the_stream_driver_example_passes(spark):
    namespace: dict = {}
    exec(compile(readme_example("stream-driver"), "README.md:stream-driver", "exec"), namespace)
    tests = [value for key, value in namespace.items() if key.startswith("test_")]
    assert tests, "the README example defines no test"
    for test in tests:
        test(spark)
