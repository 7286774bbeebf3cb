"""How the command line reads numbers: a value such as ``-1e9`` is a number, not an option.

argparse takes any word starting with "-" for an option unless it looks like a negative number, and its own
test for that knows only ``-5`` and ``-.5`` (``--silence_db -1e9`` ends in "expected one argument" instead of
reaching the range check that says what is allowed). None of our options looks like a number, so every
word that parses as a negative float (exponent, ``inf``, ``nan`` included) is read as a value.
"""
from __future__ import annotations

import argparse
import re

NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


def reads_negative_numbers(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``parser`` reading every negative number, in any float notation, as a value (returned for chaining)."""
    # argparse keeps this test in an attribute (it has no public switch); Pythons without it read them already.
    if hasattr(parser, "_negative_number_matcher"):
        parser._negative_number_matcher = NEGATIVE_NUMBER
    return parser
