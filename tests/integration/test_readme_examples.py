"""The README's Examples block runs as written, and prints what the README shows.

Each command of the block marked ``<!-- readme-test: examples -->`` is run in this process, in
order, as the shell would run it from a clone: ``./spark-submit.sh jobs/X.py ...`` through the
one runner (in the test session, without a new JVM), ``./rides ...`` through the CLI. What differs
from a user's run, and why: the profile points at the test broker (so ``./rides kafka start`` and
``stop`` are skipped), paths are under a temporary directory, and ``--count`` is divided by 40 to
keep the suite short. Every command must exit 0; ``rides balance`` must print the README's lines
(numbers aside) and say "balanced".
"""

from __future__ import annotations

import importlib
import re
import shlex
import signal

import pytest

from ridestream import cli, runner
from ridestream.paths import PROJECT_ROOT

pytestmark = pytest.mark.integration

README = (PROJECT_ROOT / "README.md").read_text()


def readme_block(name: str, language: str = "bash") -> str:
    match = re.search(rf"<!-- readme-test: {name} -->\n```{language}\n(.*?)```", README, re.DOTALL)
    assert match, f"README.md has no {language} block marked readme-test: {name}"
    return match.group(1)


def commands(block: str) -> list[list[str]]:
    """Return the block's commands as argv lists (comments, blank lines and continuations)."""
    joined = block.replace("\\\n", " ")
    return [
        shlex.split(line, comments=True)
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def documented_output(title: str) -> list[str]:
    """Return the lines of the README's output block that follows ``title``."""
    match = re.search(re.escape(title) + r".*?\n```\n(.*?)```", README, re.DOTALL)
    assert match, f"README.md shows no output after {title!r}"
    return match.group(1).splitlines()


def shape(line: str) -> re.Pattern:
    """A documented output line as a pattern: its numbers (and paths' runs of spaces) may vary."""
    pattern = re.escape(line.strip())
    pattern = re.sub(r"\d[\d,]*", r"[\\d,]+", pattern)
    return re.compile(pattern.replace(r"\ \ ", r"\s+").replace(r"\ ", r"\s+"))


@pytest.fixture
def clone(kafka_broker, tmp_path, monkeypatch):
    """A working directory like a clone's: .ridestream/ in it, a profile for the test broker."""
    home = tmp_path / ".ridestream"
    home.mkdir()
    (home / "jars").symlink_to(PROJECT_ROOT / ".ridestream" / "jars", target_is_directory=True)
    profile = tmp_path / "readme.toml"
    profile.write_text(
        f'[kafka]\nbootstrap_servers = "{kafka_broker.bootstrap_servers}"\n'
        '[query]\ncheckpoint_dir = "checkpoints/readme"\n'
        # The test session's: a run in this process must not change the session's settings.
        "[spark]\nshuffle_partitions = 2\n"
        "[embedded]\nkafka = false\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RIDESTREAM_HOME", str(home))
    monkeypatch.setenv("RIDESTREAM_PROFILE", str(profile))
    monkeypatch.delenv("RIDESTREAM_DRIVER_PID_FILE", raising=False)
    return tmp_path


def run_command(argv: list[str]) -> int:
    handlers = {number: signal.getsignal(number) for number in runner._STOP_SIGNALS}
    try:
        if argv[0] == "./spark-submit.sh":
            job = importlib.import_module(f"ridestream.jobs.{argv[1].removeprefix('jobs/')[:-3]}")
            return runner.run(job.JOB, argv[2:])
        assert argv[0] == "./rides", f"a README example this test does not know: {argv}"
        with pytest.raises(SystemExit) as exited:
            cli.main(argv[1:])
        return exited.value.code
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)


def test_the_readme_examples_run_as_written_and_print_what_it_shows(spark, clone, capsys):
    examples = commands(readme_block("examples"))
    assert len(examples) >= 8, examples
    outputs = {}
    for argv in examples:
        if argv[:2] in (["./rides", "kafka"],):
            continue  # the test broker is already up, and stays up
        if "--count" in argv:
            at = argv.index("--count") + 1
            argv = [*argv[:at], str(int(argv[at]) // 40), *argv[at + 1 :]]
        code = run_command(argv)
        out, err = capsys.readouterr()
        assert code == 0, f"{shlex.join(argv)} exited {code}:\n{(out + err)[-3000:]}"
        assert "Traceback" not in out + err
        outputs[shlex.join(argv)] = out + err

    def output_of(start: str) -> str:
        found = [text for command, text in outputs.items() if command.startswith(start)]
        assert found, f"no example starts with {start!r}"
        return found[0]

    jobs = [text for command, text in outputs.items() if "spark-submit.sh" in command]
    assert len(jobs) == 4 and all("ride_windows: finished after" in text for text in jobs)
    shown = output_of("./rides show .ridestream/delta/my_windows ")
    assert re.match(r"\.ridestream/delta/my_windows: [\d,]+ rows \(Delta table\)\n", shown)
    assert re.search(r"^my_hopping: [\d,]+ records", output_of("./rides show my_hopping"), re.M)
    rejects = output_of("./rides show .ridestream/delta/my_rejects")
    assert "reason" in rejects.splitlines()[1]  # the dead letter's columns, with its reasons
    balance = output_of("./rides balance").splitlines()
    documented = documented_output("What `rides balance` prints for the update-mode run")
    assert len(balance) == len(documented), balance
    for line, expected in zip(balance, documented, strict=True):
        assert shape(expected).fullmatch(line.strip()), (line, expected)
