"""A secured Chroma server: a token in the header the server expects, over TLS with a private CA.

`chroma run` here has no auth of its own, so the tests put a loopback TLS proxy in front of a real
server (``chroma_server`` from test_index): it serves HTTPS with a certificate made for the test and
refuses every request that lacks the token, as an authenticating gateway or Chroma's own token
auth would.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.domain.index import IndexUnavailable
from tests.conftest import ROOT, make_settings
from tests.test_index import build, chroma_server, write_deck  # noqa: F401 - chroma_server is a fixture

TOKEN = "s3cret-chroma-token"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is its own CA): (certificate, key)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class TokenProxy:
    """HTTPS on 127.0.0.1:port in front of http://127.0.0.1:upstream; 401 without the token."""

    upstream: int
    context: ssl.SSLContext
    accepted: dict[str, str]  # header -> the exact value it must have
    port: int = 0
    refused: int = 0
    forwarded: int = 0
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not any(request.headers.get(name) == value for name, value in self.accepted.items()):
            self.refused += 1
            return web.json_response({"error": "Unauthorized", "message": "missing or wrong token"}, status=401)
        self.forwarded += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with self._session.request(
            request.method,
            f"http://127.0.0.1:{self.upstream}{request.path_qs}",
            headers=headers,
            data=await request.read(),
        ) as upstream:
            body = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() in ("content-type", "chroma-trace-id")}
            return web.Response(status=upstream.status, body=body, headers=kept)

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        await self._session.close()
        await self._runner.cleanup()

    def __enter__(self) -> TokenProxy:
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def secured(tmp_path, chroma_server) -> Iterator[tuple[TokenProxy, Path]]:  # noqa: F811
    cert, key = make_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    accepted = {"Authorization": f"Bearer {TOKEN}", "X-Chroma-Token": TOKEN}
    with TokenProxy(chroma_server, context, accepted) as proxy:
        yield proxy, cert


def secured_settings(tmp_path, proxy: TokenProxy, cert: Path | None, **overrides):
    values = {
        "knowledge_dir": write_deck(tmp_path / "k"),
        "chroma_host": "127.0.0.1",
        "chroma_port": proxy.port,
        "chroma_ssl": True,
        "chroma_ssl_ca_file": cert,
        "chroma_auth_token": TOKEN,
    }
    values.update(overrides)
    return make_settings(tmp_path, **values)


def test_the_right_token_over_tls_works_in_either_header(tmp_path, embedder, secured):
    proxy, cert = secured
    settings = secured_settings(tmp_path, proxy, cert)  # Authorization: Bearer
    tutor = build(settings, embedder)
    assert tutor.reload().embedded == 12
    answer = tutor.ask("How do volcanoes erupt?")
    assert answer.confident and answer.sources[0].slide == 2
    tutor.index.ping()
    assert proxy.forwarded > 0 and proxy.refused == 0

    other = build(secured_settings(tmp_path, proxy, cert, chroma_auth_header="X-Chroma-Token"), embedder)
    assert other.reload().embedded == 0, "the same server, reached with the token in X-Chroma-Token"
    assert proxy.refused == 0


@pytest.mark.parametrize("token", ["not-the-token", None], ids=["wrong token", "no token"])
def test_a_wrong_or_missing_token_is_one_clear_error(tmp_path, embedder, secured, token):
    proxy, cert = secured
    settings = secured_settings(tmp_path, proxy, cert, chroma_auth_token=token)
    with pytest.raises(IndexUnavailable) as caught:
        build(settings, embedder)
    message = str(caught.value)
    assert "\n" not in message and f"https://127.0.0.1:{proxy.port}" in message
    assert "refused the token" in message and "CHROMA_AUTH_TOKEN" in message
    assert TOKEN not in message and "not-the-token" not in message
    assert proxy.refused >= 1 and proxy.forwarded == 0


def test_an_untrusted_certificate_is_one_clear_error(tmp_path, embedder, secured):
    proxy, _ = secured
    settings = secured_settings(tmp_path, proxy, None)  # the system's CAs do not know the test's
    with pytest.raises(IndexUnavailable, match="TLS failed: check CHROMA_SSL and CHROMA_SSL_CA_FILE"):
        build(settings, embedder)
    assert proxy.forwarded == 0


def test_the_command_line_prints_one_line_without_a_traceback(tmp_path, secured):
    proxy, cert = secured
    settings = secured_settings(tmp_path, proxy, cert)
    env = {
        "CHROMA_HOST": "127.0.0.1",
        "CHROMA_PORT": str(proxy.port),
        "CHROMA_SSL": "true",
        "CHROMA_SSL_CA_FILE": str(cert),
        "CHROMA_AUTH_TOKEN": "not-the-token",
        "KNOWLEDGE_DIR": str(settings.knowledge_dir),
        "DATA_DIR": str(settings.data_dir),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "ingest"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("slide-tutor ingest:")]
    assert len(lines) == 1 and "refused the token" in lines[0], done.stderr
    assert "loaded embedding model" not in done.stderr, "the server is checked before the model loads"
    assert "Traceback" not in done.stderr and "not-the-token" not in done.stderr
