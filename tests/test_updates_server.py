"""The bundle server (uvicorn, real HTTP): resumable downloads for the boards, uploads only with the token."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request

import pytest

from tests.updates_kit import BundleServer


def call(url, method="GET", data=None, headers=None):
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def server(tmp_path):
    srv = BundleServer(tmp_path / "served", token="t0ken")
    yield srv
    srv.close()


def test_downloads_resume_with_range_and_uploads_need_the_token(server):
    data = bytes(range(256)) * 40
    url = f"{server.url}/bundles/b-v1.tar"
    assert call(url, "PUT", data)[0] == 401
    assert call(url, "PUT", data, {"Authorization": "Bearer nope"})[0] == 401
    assert call(f"{server.url}/bundles/evil.sh", "PUT", data, {"Authorization": "Bearer t0ken"})[0] == 400
    status, _, body = call(url, "PUT", data, {"Authorization": "Bearer t0ken"})
    assert status == 201
    assert json.loads(body) == {"name": "b-v1.tar", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert not [p for p in server.folder.iterdir() if p.name.startswith(".")]   # no temporary left behind

    assert call(url)[0::2] == (200, data)
    status, headers, body = call(url, headers={"Range": "bytes=5000-"})
    assert (status, body) == (206, data[5000:])
    assert headers["content-range"] == f"bytes 5000-{len(data) - 1}/{len(data)}"
    assert json.loads(call(f"{server.url}/bundles/")[2]) == [{"name": "b-v1.tar", "size": len(data)}]
    assert call(f"{server.url}/bundles/none.tar")[0] == 404


def test_without_a_token_the_server_only_serves(tmp_path):
    srv = BundleServer(tmp_path / "served")
    try:
        status, _, body = call(f"{srv.url}/bundles/b-v1.tar", "PUT", b"x", {"Authorization": "Bearer anything"})
        assert status == 403 and "no upload token" in json.loads(body)["error"]
    finally:
        srv.close()
