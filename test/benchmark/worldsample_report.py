"""The README rows of the WorldSample benchmark, from its result files (worldsample.commands.report)."""
from __future__ import annotations

from pathlib import Path


def summary_rows(folder: Path) -> list[str]:
    from worldsample.commands.report import write_report
    if not folder.is_dir():
        return [f'| WorldSample benchmark | no results in {folder} yet | |']
    path = write_report(folder)
    print(f'report: {path}')
    return [f'| WorldSample benchmark ({folder.name}) | see {path} | ≤ 0.6× baseline steps, ≥ baseline success |']
