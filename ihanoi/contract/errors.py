"""One exception tree for the whole project; each error is a sentence that says what to do.

Modelled on gpiozero's ``exc`` module: a leaf module that imports nothing; catch
``SignageError`` to catch them all, or the specific class. Every class also derives from the
built-in type it behaves like (bad input is a ``ValueError``, a device or service that cannot
be used a ``RuntimeError``), so code that knows nothing of this tree still catches it.

    SignageError
    ├── ConfigError (ValueError)          a config file is missing or holds a value not allowed
    │   ├── RegistryError                 the units registry is inconsistent
    │   ├── PackError                     a content pack cannot be compiled
    │   │   └── ClipRefused               a video clip the target screens cannot play (``file``, ``reason``)
    │   └── FontError                     a font is missing or lacks a character
    ├── ProtocolError (ValueError)        a message does not follow the wire protocol
    ├── TrafficModelError (ValueError)    a saved traffic model cannot be read
    ├── OutboxError (RuntimeError)        the outbox database cannot be used
    ├── PanelError (RuntimeError)         the panel output cannot be opened or used
    │   └── ScreenError                   the HDMI screen (mpv, cec-ctl) cannot be started or used
    ├── StoreError (RuntimeError)         the central store is not there or cannot be reached
    └── UpdateError (RuntimeError)        the content-update path
        ├── KeyFileError (ValueError)     a key file is wrong
        ├── BundleRefused (ValueError)    a bundle must not be installed (``reason``)
        └── DownloadError                 a bundle could not be fetched (yet)
"""

from __future__ import annotations


class SignageError(Exception):
    """Base of every error the project raises on purpose."""


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


class PackError(ConfigError):
    """A pack's manifest or one of its items is wrong; ``item`` names it (``items[2] (qr "download")``)."""

    def __init__(self, path, item: str, problem: str):
        self.item = item
        self.problem = problem
        super().__init__(path, [(item, problem)])


class FontError(SignageError, ValueError):
    """A font is missing or lacks a character; the message says which and what to do."""


class ProtocolError(SignageError, ValueError):
    """A message does not follow the wire protocol; ``reason`` is a short machine-readable kind."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class TrafficModelError(SignageError, ValueError):
    """A saved traffic model cannot be read; delete the file to start again from the prior."""


class OutboxError(SignageError, RuntimeError):
    """The outbox database cannot be used."""


class PanelError(SignageError, RuntimeError):
    """The panel output cannot be opened or used; the message says what to install or change."""


class ScreenError(PanelError):
    """The HDMI screen cannot be driven: mpv or cec-ctl is missing, will not start or stopped answering."""


class ClipRefused(PackError):
    """A video clip that the target screens cannot play smoothly, or at all (unreadable, truncated, corrupt).

    ``file`` is the clip, ``reason`` a short machine-readable kind (``unreadable``, ``truncated``,
    ``corrupt``, ``codec``, ``profile``, ``size``, ``frame-rate``, ``audio``, ``no-video``).
    """

    def __init__(self, path, item: str, file: str, reason: str, problem: str):
        self.file = file
        self.reason = reason
        super().__init__(path, item, problem)


# Why a device refuses a content bundle (also in docs/updates.md):
# ``unsigned`` no signature; ``bad-signature`` signed by no trusted key (unknown key, or the
# manifest was altered); ``tampered`` a file's size or SHA-256 differs from the manifest, or a
# file is missing or not listed; ``wrong-target`` the bundle is not for this unit/device;
# ``not-newer`` its version is not above the highest ever installed (anti-rollback);
# ``bad-bundle`` not a bundle at all (bad archive, bad manifest); ``compile-failed`` the pack
# does not compile for this panel; ``load-failed`` it compiled but could not be played after
# the switch (rolled back).
BUNDLE_REFUSALS = ("unsigned", "bad-signature", "tampered", "wrong-target", "not-newer", "bad-bundle",
                   "compile-failed", "load-failed")


class StoreError(SignageError, RuntimeError):
    """The central store (SQLite file or PostgreSQL database) is not there, cannot be reached,
    or has no schema yet; a command that only reads never creates one."""


class UpdateError(SignageError, RuntimeError):
    """Base of the content-update errors."""


class KeyFileError(UpdateError, ValueError):
    def __init__(self, path, problem: str):
        self.path = str(path)
        super().__init__(f"{path}: {problem}")


class BundleRefused(UpdateError, ValueError):
    """The bundle must not be installed; ``reason`` is one of ``BUNDLE_REFUSALS``."""

    def __init__(self, reason: str, detail: str):
        assert reason in BUNDLE_REFUSALS, reason
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class DownloadError(UpdateError):
    """The bundle could not be fetched (yet); the device tries again later, nothing is installed."""
