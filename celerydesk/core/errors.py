"""The one error type that reaches the user: what is wrong, and what to do about it."""

from __future__ import annotations


class DeskError(Exception):
    """A problem the user can act on. ``hint`` says what to do; both are shown verbatim."""

    exit_code = 2  # what the command line exits with

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class StackAlreadyRunning(DeskError):
    """Another celerydesk runs this workspace's stack: a refusal, not a mistake in the input."""

    exit_code = 3


class WorkspaceError(DeskError):
    """The workspace file is missing, does not parse, or has invalid values."""

    def __init__(self, path, problems: list[str], hint: str = ""):
        self.path = path
        self.problems = list(problems)
        listed = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{path}: {len(self.problems)} problem(s)\n{listed}", hint)
