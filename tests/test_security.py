"""Safe defaults of the app however it is started: loopback only, XSRF and origin checks, no usage statistics, an
upload size limit (genviz/.streamlit/config.toml: beside the app's script, where Streamlit reads it from any
working directory)."""

import http.client
import subprocess
import sys
from pathlib import Path

import pytest

from support.browser import ROOT, serve

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc/net/tcp")


def listening_on(port: int) -> set[str]:
    """The local addresses with a socket listening on `port` (IPv4 and IPv6), from /proc/net."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def handshake(port: int, host: str, origin: str) -> int:
    """The status of a websocket upgrade of Streamlit's stream, as a browser on `origin` sends it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Host": host, "Origin": origin, "Connection": "Upgrade", "Upgrade": "websocket",
               "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}  # fmt: skip
    connection.request("GET", "/_stcore/stream", headers=headers)
    status = connection.getresponse().status
    connection.close()
    return status


@pytest.fixture(scope="module")
def server():
    with serve() as running:
        yield running, int(running.url.rsplit(":", 1)[1])


@pytest.mark.slow
def test_the_server_listens_on_loopback_only(server):
    _, port = server
    assert listening_on(port) == {"0100007F"}  # 127.0.0.1, as /proc/net writes it


@pytest.mark.slow
def test_only_the_apps_own_origin_and_host_open_a_session(server):
    _, port = server
    own = f"127.0.0.1:{port}"
    assert handshake(port, own, f"http://{own}") == 101
    assert handshake(port, own, "http://evil.example") == 403  # another site open in the same browser
    assert handshake(port, f"evil.example:{port}", f"http://evil.example:{port}") == 403  # DNS rebinding


@pytest.mark.slow
def test_an_upload_without_the_sessions_xsrf_token_is_refused(server):
    _, port = server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\nx\r\n--b--\r\n'
    connection.request(
        "PUT", "/_stcore/upload_file/session/file", body, {"Content-Type": "multipart/form-data; boundary=b"}
    )
    response = connection.getresponse()
    assert response.status == 403 and b"XSRF" in response.read()


def test_streamlit_reads_the_safe_settings():
    # `config show` reads the working directory's .streamlit/; the server below, started from the checkout's root,
    # shows that Streamlit reads the file beside the app's script too.
    shown = subprocess.run(
        [sys.executable, "-m", "streamlit", "config", "show"],
        cwd=ROOT / "genviz",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    settings = {line.strip() for line in shown.splitlines() if not line.startswith("#")}
    for setting in ('address = "127.0.0.1"', "enableXsrfProtection = true", "enableCORS = true",
                    "gatherUsageStats = false", "maxUploadSize = 20"):  # fmt: skip
        assert setting in settings
