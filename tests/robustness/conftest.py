"""Prints the bad-input sweep's counts per class at the end of the session."""

from __future__ import annotations

import sweep


def pytest_terminal_summary(terminalreporter):
    if sweep.COUNTS:
        terminalreporter.write_sep("=", "bad-input sweep")
        terminalreporter.write_line(sweep.format_counts())
