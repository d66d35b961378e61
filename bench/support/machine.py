"""What a benchmark ran on: the machine and the versions of everything that was measured."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def _proc_field(path: str, name: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine() -> str:
    """Return the OS, architecture, CPU model, core count and RAM of this machine."""
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown CPU"
    memory = _proc_field("/proc/meminfo", "MemTotal")
    ram = f", {int(memory.split()[0]) / 2**20:.0f} GiB RAM" if memory else ""
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores{ram}"


def package_version(name: str) -> str:
    """Return the installed version of a Python distribution, or 'not installed'."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"
