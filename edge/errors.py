"""One exception tree for the agent; each error is a sentence that says what to do.

Modelled on gpiozero's ``exc`` module: catch ``SignageError`` to catch them all, or the
specific class; classes that describe bad input also derive from ``ValueError``.
"""

from __future__ import annotations


class SignageError(Exception):
    """Base of every error the agent raises on purpose."""


class ConfigError(SignageError, ValueError):
    """A configuration file is missing, unreadable or holds a value that is not allowed.

    ``problems`` lists every (key, message) found, so one run shows them all.
    """

    def __init__(self, path, problems: list[tuple[str, str]]):
        self.path = str(path)
        self.problems = list(problems)
        lines = [f"{self.path}: {key}: {msg}" if key else f"{self.path}: {msg}" for key, msg in self.problems]
        super().__init__("\n".join(lines))


class RegistryError(ConfigError):
    """The units registry is inconsistent (duplicate id, device in two units, bad hours)."""


class ProtocolError(SignageError, ValueError):
    """A message does not follow the wire protocol; ``reason`` is a short machine-readable kind."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class OutboxError(SignageError):
    """The outbox database cannot be used."""


class OutboxFull(OutboxError):
    """Raised only when the outbox is configured to refuse rather than drop the oldest."""
