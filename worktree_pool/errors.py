"""The one error type every wtpool component raises.

The CLI turns it into `error: <message>` and `hint: <hint>` on stderr and exits with its code, so
a component never prints and never chooses how a failure is shown.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    # The operation was valid but could not be carried out: git failed, the pool is busy, the
    # state store is damaged.
    FAILED = 1
    # What the user typed or wrote is wrong, or the command cannot apply where it was run.
    USAGE = 2


class WtpoolError(Exception):
    def __init__(self, message: str, hint: str | None = None, code: ExitCode = ExitCode.FAILED):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


def bad_input(message: str, hint: str | None = None) -> WtpoolError:
    return WtpoolError(message, hint, ExitCode.USAGE)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (a server's messages run on with detail lines)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
