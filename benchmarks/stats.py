"""Percentiles and machine facts for benchmark reports."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from core import compiled

RESULTS = Path(__file__).parent / "results"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
    }


def machine() -> dict[str, Any]:
    """The facts a result is read against: CPU, cores, versions, and whether the hot path ran compiled."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "absent"

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "uvloop": version("uvloop"),
        "aiohttp": version("aiohttp"),
        "platform": platform.platform(),
        "hot_path": compiled.status()[1],
    }


def write_results(stem: str, result: dict[str, Any], text: str, folder: Path = RESULTS) -> None:
    """``stem.json`` (the numbers) and ``stem.md`` (the report) in ``folder``; the report is printed."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (folder / f"{stem}.md").write_text(text)
    print(text)
