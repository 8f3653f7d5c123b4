"""What every benchmark entry point shares: progress lines, refusals, argument checks."""

import argparse
import sys
from typing import NoReturn


def step(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def fail(message: str) -> NoReturn:
    """End the benchmark with ``message`` on stderr and exit status 1, before any report."""
    sys.exit(f"[bench] {message}")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value
