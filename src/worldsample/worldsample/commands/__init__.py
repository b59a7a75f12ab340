"""Command-line entry points (console scripts)."""
import sys

from tqdm import tqdm

LOG_PROGRESS_S = 30.0   # progress bars written to a file or pipe update this rarely, not ten times a second


def progress_bar(**kwargs) -> tqdm:
    """A tqdm bar for a long command: live on a terminal, a line every LOG_PROGRESS_S in a log."""
    return tqdm(mininterval=0.1 if sys.stderr.isatty() else LOG_PROGRESS_S, **kwargs)
