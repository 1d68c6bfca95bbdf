"""Download a bundle file over HTTP(S) into ``<sha256>.tar``, resuming a half-finished ``.part``.

A restart continues from the bytes already on disk (``Range: bytes=N-``); a server that
ignores the range sends the whole file and the part is started again. The file is renamed
to its final name only when its size and SHA-256 match the announcement, so a half-done or
corrupt download can never be opened as a bundle. ``file://`` URLs work too (a USB stick).
"""

from __future__ import annotations

import logging
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from edge.updates.bundle import file_sha256
from edge.updates.store import fsync_dir
from ihanoi.contract.errors import DownloadError

log = logging.getLogger(__name__)
CHUNK = 1 << 16
Progress = Callable[[int, int], None]


def download(url: str, folder: Path, sha256: str, size: int, progress: Progress | None = None,
             timeout: float = 30.0, ca_file: Path | None = None) -> Path:
    """The verified file ``folder/<sha256>.tar``; DownloadError (try again later) otherwise."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{sha256}.tar"
    if final.exists() and file_sha256(final) == sha256:
        return final
    part = folder / f"{sha256}.tar.part"
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    if have < size:
        _fetch(url, part, have, size, progress, timeout, ca_file)
    if part.stat().st_size != size or file_sha256(part) != sha256:
        got = part.stat().st_size
        part.unlink()
        raise DownloadError(f"{url}: downloaded {got} bytes that do not match the announced size {size} / "
                            f"SHA-256; the next attempt starts over")
    os.replace(part, final)
    fsync_dir(folder)
    return final


def _fetch(url: str, part: Path, have: int, size: int, progress: Progress | None, timeout: float,
           ca_file: Path | None) -> None:
    headers = {"Range": f"bytes={have}-"} if have else {}
    context = None
    if ca_file and url.startswith("https"):
        # The system's CAs and the district's: a bundle server with a public certificate works too.
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=str(ca_file))
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout,
                                          context=context)
    except urllib.error.HTTPError as exc:
        if exc.code == 416:   # our part is not a prefix of what the server has: start over
            part.unlink(missing_ok=True)
        raise DownloadError(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"{url}: cannot download ({getattr(exc, 'reason', exc)})") from None
    with response:
        status = getattr(response, "status", None) or 200   # file:// has no status
        if status == 206:
            if not have or not str(response.headers.get("Content-Range", "")).startswith(f"bytes {have}-"):
                part.unlink(missing_ok=True)
                raise DownloadError(f"{url}: unexpected partial answer {response.headers.get('Content-Range')!r}; "
                                    f"the next attempt starts over")
            log.info("%s: resuming at %d of %d bytes", url, have, size)
        else:
            if have:
                log.info("%s: the server does not resume; downloading from the start", url)
            have = 0
        try:
            with open(part, "ab" if have else "wb") as out:
                done = have
                while chunk := response.read(CHUNK):
                    if done + len(chunk) > size:
                        raise DownloadError(f"{url}: the server sends more than the announced {size} bytes")
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, size)
                out.flush()
                os.fsync(out.fileno())
        except (OSError, TimeoutError) as exc:
            raise DownloadError(f"{url}: download interrupted at {part.stat().st_size} bytes ({exc}); "
                                f"it resumes from there") from None


def progress_logger(name: str, step: float = 0.1) -> Progress:
    """A progress callback that logs every ``step`` (10 %) of a download."""
    marks = {"next": 0.0}

    def report(done: int, total: int) -> None:
        share = done / total if total else 1.0
        if share >= marks["next"]:
            log.info("%s: %d of %d bytes (%.0f %%)", name, done, total, share * 100)
            marks["next"] = share + step
    return report
