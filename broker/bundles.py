"""Serves signed content bundles to the boards over HTTP(S), and takes uploads from technicians.

    GET  /bundles/            the bundle files here (JSON: name, size)
    GET  /bundles/{name}.tar  one bundle; Range requests are answered (206), so a board resumes
    PUT  /bundles/{name}.tar  upload (``Authorization: Bearer <token>``); written to a temporary
                              name, renamed when complete; answers {name, size, sha256}

A Starlette app: the server runs it as the ``ihanoi-bundles`` service (``ihanoi-broker
serve-bundles``) behind the same TLS reverse proxy as the dashboard; ``ihanoi-content serve``
runs it on a technician's PC. Uploads are refused unless a token is configured; the bundles
are signed, so a board never trusts this server, only the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from ihanoi.contract.errors import ConfigError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.tar$")
MAX_UPLOAD = 2 * 1024 ** 3


def bundle_app(directory: Path | str, upload_token: str | None = None, max_upload: int = MAX_UPLOAD) -> Starlette:
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)

    def _path(request: Request) -> Path | None:
        name = request.path_params["name"]
        return folder / name if NAME.match(name) else None

    async def listing(request: Request) -> Response:
        files = sorted(p for p in folder.glob("*.tar") if p.is_file())
        return JSONResponse([{"name": p.name, "size": p.stat().st_size} for p in files])

    async def get(request: Request) -> Response:
        path = _path(request)
        if path is None or not path.is_file():
            return JSONResponse({"error": "no such bundle"}, status_code=404)
        return FileResponse(path, media_type="application/x-tar")

    async def put(request: Request) -> Response:
        given = request.headers.get("authorization", "")
        if not upload_token:
            return JSONResponse({"error": "uploads are disabled: the server has no upload token"}, status_code=403)
        if not hmac.compare_digest(given.encode(), f"Bearer {upload_token}".encode()):
            return JSONResponse({"error": "wrong or missing upload token"}, status_code=401)
        path = _path(request)
        if path is None:
            return JSONResponse({"error": "a bundle name is letters, digits, '.', '_', '-' and ends in .tar"},
                                status_code=400)
        tmp = folder / f".{path.name}.{secrets.token_hex(4)}.upload"
        digest, size = hashlib.sha256(), 0
        try:
            async with await anyio.open_file(tmp, "wb") as out:   # never block the event loop on the disk
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > max_upload:
                        return JSONResponse({"error": f"larger than {max_upload} bytes"}, status_code=413)
                    digest.update(chunk)
                    await out.write(chunk)
                await out.flush()
                await anyio.to_thread.run_sync(os.fsync, out.wrapped.fileno())
            expected = request.headers.get("content-length")
            if expected is not None and int(expected) != size:
                return JSONResponse({"error": f"upload cut short at {size} of {expected} bytes"}, status_code=400)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return JSONResponse({"name": path.name, "size": size, "sha256": digest.hexdigest()}, status_code=201)

    return Starlette(routes=[
        Route("/bundles/", listing, methods=["GET"]),
        Route("/bundles/{name}", get, methods=["GET", "HEAD"]),
        Route("/bundles/{name}", put, methods=["PUT"]),
    ])


def read_token(path: Path | str) -> str:
    """The upload token from its file: one line, 16 characters at least."""
    path = Path(path)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(path, [("", f"the upload token file cannot be read ({exc.strerror}); make one with: "
                                      f"head -c 32 /dev/urandom | base64 > {path}")]) from None
    if len(token) < 16:
        raise ConfigError(path, [("", "the upload token is shorter than 16 characters; make one with: "
                                      f"head -c 32 /dev/urandom | base64 > {path}")])
    return token


def serve(directory: Path | str, host: str = "0.0.0.0", port: int = 8780, upload_token: str | None = None) -> None:
    import uvicorn

    uvicorn.run(bundle_app(directory, upload_token), host=host, port=port, log_level="info")
