"""Errors of the content-update path; ``BundleRefused.reason`` is the short word devices report.

Refusal reasons (also in docs/updates.md):
``unsigned`` no signature; ``bad-signature`` signed by no trusted key (unknown key, or the
manifest was altered); ``tampered`` a file's size or SHA-256 differs from the manifest, or a
file is missing or not listed; ``wrong-target`` the bundle is not for this unit/device;
``not-newer`` its version is not above the highest ever installed (anti-rollback);
``bad-bundle`` not a bundle at all (bad archive, bad manifest); ``compile-failed`` the pack
does not compile for this panel; ``load-failed`` it compiled but could not be played after
the switch (rolled back).
"""

from __future__ import annotations

from pathlib import Path

from edge.errors import SignageError

REASONS = ("unsigned", "bad-signature", "tampered", "wrong-target", "not-newer", "bad-bundle",
           "compile-failed", "load-failed")


class UpdateError(SignageError):
    """Base of the content-update errors."""


class KeyFileError(UpdateError, ValueError):
    def __init__(self, path: Path | str, problem: str):
        self.path = str(path)
        super().__init__(f"{path}: {problem}")


class BundleRefused(UpdateError, ValueError):
    """The bundle must not be installed; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, detail: str):
        assert reason in REASONS, reason
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class DownloadError(UpdateError):
    """The bundle could not be fetched (yet); the device tries again later, nothing is installed."""
