#!/usr/bin/env python3
"""Manifold as the OAuth client under test, for the MCP conformance suite's
client mode (`conformance client --command "python3 oauth_client.py"`).

The suite starts an MCP server that wants OAuth, plus its authorization
server, and runs this command with the server's URL as the last argument
(`MCP_CONFORMANCE_SCENARIO` names the scenario; `MCP_CONFORMANCE_CONTEXT`,
when set, is JSON with scenario data such as pre-registered client
credentials). This script plays the operator and the user around a real
gateway, so every OAuth request the suite sees is made by Manifold:

1. starts `manifold serve` ($MANIFOLD_BIN) on a free loopback port with a
   fresh data folder (SQLite, in-memory state, loopback egress allowed),
   waits for /readyz and reads the bootstrap admin key;
2. as the admin, creates a public `streamable_http` server for the URL with
   `requires_oauth2: true` (and the context's client id and secret, or a
   client id from OPERATOR_CLIENT_IDS, if any);
3. as a user, connects it: 403 `oauth_required` gives an authorization URL,
   which it follows without automatic redirects, like a browser, until the
   authorization server sends it to the gateway's /oauth/callback; it calls
   that (no Authorization header) and connects again;
4. through /mcp (streamable HTTP, the MCP Python SDK), lists the tools and
   calls the upstream's `test-tool`, expecting its text `test`. A call the
   gateway refuses for want of authorization (an MCP error with
   `data.code = "oauth_required"`) is authorized the same way and retried.

The user authorizes at most MAX_AUTHORIZATIONS times in one run, like a
person who gives up; every request to the authorization server's
/authorize is this script following a URL the gateway handed out.

Exit 0 when the tool answered; otherwise the reason goes to stderr (with the
end of the gateway's log) and the exit code is 1. The gateway is always
stopped.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin

import httpx

# Authorizations one run may perform (initial + step-up + one more).
MAX_AUTHORIZATIONS = 3
# Redirects followed from an authorization URL before giving up.
MAX_REDIRECTS = 10
# Seconds the gateway may take to become ready.
READY_SECONDS = 30
# The name the server gets in the catalog (tools become `conformance__…`).
SERVER_NAME = "conformance"
USER = "conformance-user"
TOOL = "test-tool"


# Client ids an operator configures for a scenario's upstream. In
# `auth/basic-cimd` the authorization server supports Client ID Metadata
# Documents and expects this URL as the client id; an operator uses one by
# publishing the document there and setting it as the server's
# `oauth_client_id` (Manifold does not host a document of its own, and the
# suite accepts no other URL).
OPERATOR_CLIENT_IDS = {
    "auth/basic-cimd": "https://conformance-test.local/client-metadata.json",
}


class Failure(Exception):
    """A step failed; the message says which and why."""


def log(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """Runs in the gateway child: SIGTERM it when this script dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:
        pass


class Gateway:
    """One `manifold serve` in a temporary folder."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.folder = tempfile.TemporaryDirectory(prefix="manifold-conformance-")
        root = Path(self.folder.name)
        self.data = root / "data"
        self.log_path = root / "manifold.log"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # Only our settings: nothing inherited from the caller's MANIFOLD_*.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MANIFOLD_")}
        env.update(
            {
                "MANIFOLD_LISTEN": f"127.0.0.1:{self.port}",
                "MANIFOLD_DATA_DIR": str(self.data),
                "MANIFOLD_STATE__URL": "memory",
                "MANIFOLD_HTTP__PUBLIC_URL": self.base,
                "MANIFOLD_UPSTREAM__EGRESS__DENY_LOOPBACK": "false",
                "MANIFOLD_UPSTREAM__CONNECT_TIMEOUT_SECONDS": "10",
                "MANIFOLD_UPSTREAM__TOOL_FETCH_TIMEOUT_SECONDS": "10",
                "MANIFOLD_UPSTREAM__CALL_TIMEOUT_SECONDS": "10",
                "MANIFOLD_LOG__LEVEL": os.environ.get(
                    "MANIFOLD_CONFORMANCE_LOG", "info,manifold=debug"
                ),
                "NO_COLOR": "1",
            }
        )
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(
                [self.binary, "serve"],
                cwd=self.folder.name,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + READY_SECONDS
        while True:
            if self.process.poll() is not None:
                raise Failure(f"manifold serve exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise Failure(f"/readyz did not answer 200 within {READY_SECONDS}s")
            time.sleep(0.1)
        log(f"gateway ready at {self.base}")

    def admin_key(self) -> str:
        path = self.data / "admin.key"
        try:
            return path.read_text().strip()
        except OSError as e:
            raise Failure(f"no bootstrap admin key at {path}: {e}") from e

    def user_key(self, user: str) -> str:
        done = subprocess.run(
            [self.binary, "keys", "create", "--user", user],
            cwd=self.folder.name,
            env=self.env,
            capture_output=True,
            timeout=30,
            check=False,
        )
        key = done.stdout.decode().strip()
        if done.returncode != 0 or not key:
            raise Failure(
                f"`manifold keys create` failed ({done.returncode}): {done.stderr.decode()}"
            )
        return key

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no gateway log)"
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        self.stop()
        self.folder.cleanup()


def body_of(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return response.text


class User:
    """The user's side: REST calls with their key, and a browser's redirects."""

    def __init__(self, gateway: Gateway, key: str) -> None:
        self.gateway = gateway
        self.key = key
        self.api = httpx.Client(
            base_url=gateway.base,
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        # The "browser": no gateway key, no automatic redirects.
        self.browser = httpx.Client(follow_redirects=False, timeout=30)
        self.authorizations = 0

    def connect(self, server_id: str) -> dict:
        """Connects the server, authorizing when the gateway asks to."""
        while True:
            r = self.api.post(f"/api/v1/servers/{server_id}/connect", json={})
            body = body_of(r)
            if r.status_code == 200:
                log(f"connected: {json.dumps(body)}")
                return body  # type: ignore[return-value]
            error = body.get("error", {}) if isinstance(body, dict) else {}
            if r.status_code == 403 and error.get("code") == "oauth_required":
                url = error.get("authorization_url")
                if not isinstance(url, str) or not url:
                    raise Failure(f"403 oauth_required without authorization_url: {body}")
                log("connect: 403 oauth_required")
                self.authorize(url)
                continue
            raise Failure(f"connect answered {r.status_code}: {body}")

    def fresh_authorization_url(self, server_id: str) -> str:
        r = self.api.post(f"/api/v1/servers/{server_id}/oauth/authorize", json={})
        body = body_of(r)
        url = body.get("authorization_url") if isinstance(body, dict) else None
        if r.status_code != 200 or not isinstance(url, str):
            raise Failure(f"oauth/authorize answered {r.status_code}: {body}")
        return url

    def authorize(self, url: str) -> dict:
        """Follows `url` hop by hop to the gateway's callback and calls it."""
        if self.authorizations >= MAX_AUTHORIZATIONS:
            raise Failure(
                f"the gateway asked for authorization a {self.authorizations + 1}th time; "
                f"giving up after {MAX_AUTHORIZATIONS}"
            )
        self.authorizations += 1
        log(f"authorization {self.authorizations}: {url}")
        callback = f"{self.gateway.base}/oauth/callback"
        for _ in range(MAX_REDIRECTS):
            if url.startswith(callback + "?") or url == callback:
                r = self.browser.get(url, headers={"Accept": "application/json"})
                body = body_of(r)
                if r.status_code != 200:
                    raise Failure(f"/oauth/callback answered {r.status_code}: {body}")
                log(f"callback: {json.dumps(body)}")
                # The session status vocabulary is CONNECTED / DISCONNECTED / FAILED.
                status = body.get("status") if isinstance(body, dict) else None
                if not isinstance(status, str) or status.upper() != "CONNECTED":
                    raise Failure(f"/oauth/callback did not report a connection: {body}")
                return body
            if url.startswith(self.gateway.base):
                raise Failure(f"redirected to a gateway URL that is not the callback: {url}")
            r = self.browser.get(url)
            location = r.headers.get("location")
            if not r.is_redirect or not location:
                raise Failure(
                    f"{url} answered {r.status_code} without a redirect: {r.text[:500]}"
                )
            url = urljoin(url, location)
            log(f"redirected to {url}")
        raise Failure(f"more than {MAX_REDIRECTS} redirects")


def authorization_hint(error: object) -> tuple[bool, str | None]:
    """Whether an MCP error asks for authorization, and the URL it carries."""
    data = getattr(getattr(error, "error", None), "data", None)
    if not isinstance(data, dict):
        return False, None
    url = data.get("authorization_url")
    wants = data.get("code") == "oauth_required" or isinstance(url, str)
    return wants, url if isinstance(url, str) else None


async def use_tool(user: User, server_id: str) -> str:
    """Lists the tools on /mcp and calls the upstream's test tool."""
    while True:
        answered, text_or_url = await one_mcp_session(user)
        if answered:
            return text_or_url or ""
        # The gateway wants (more) authorization for the call: do it, retry.
        user.authorize(text_or_url or user.fresh_authorization_url(server_id))


async def one_mcp_session(user: User) -> tuple[bool, str | None]:
    """One MCP session: (True, the tool's text), or (False, the authorization
    URL or None) when the gateway refused the call for want of authorization.

    Failures leave the SDK's task groups first, so they are not wrapped in
    exception groups."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client
    from mcp.shared.exceptions import McpError

    headers = {"Authorization": f"Bearer {user.key}"}
    problem: str | None = None
    wants_authorization = False
    authorization_url: str | None = None
    text = ""
    async with streamablehttp_client(f"{user.gateway.base}/mcp", headers=headers) as (
        read,
        write,
        _,
    ):
        async with ClientSession(read, write) as session:
            await session.initialize()
            names = [t.name for t in (await session.list_tools()).tools]
            log(f"tools/list: {names}")
            wanted = [n for n in names if n == TOOL or n.endswith("__" + TOOL)]
            if len(wanted) != 1:
                problem = f"expected one `{TOOL}` tool on /mcp, got {names}"
            else:
                try:
                    result = await session.call_tool(wanted[0], {})
                    text = " ".join(getattr(c, "text", "") for c in result.content)
                    log(f"tools/call: isError={result.isError} text={text!r}")
                    if result.isError or text != "test":
                        problem = f"{wanted[0]} answered isError={result.isError}, text {text!r}"
                except McpError as e:
                    wants_authorization, authorization_url = authorization_hint(e)
                    if wants_authorization:
                        log(f"tools/call: authorization required ({e.error.message})")
                    else:
                        problem = f"tools/call failed: {e.error.model_dump()}"
    if problem:
        raise Failure(problem)
    if wants_authorization:
        return False, authorization_url
    return True, text


def run(gateway: Gateway, server_url: str, context: dict) -> None:
    gateway.start()
    admin = httpx.Client(
        base_url=gateway.base,
        headers={"Authorization": f"Bearer {gateway.admin_key()}"},
        timeout=60,
    )
    spec: dict = {
        "name": SERVER_NAME,
        "transport": "streamable_http",
        "url": server_url,
        "requires_oauth2": True,
        "is_public": True,
    }
    # Pre-registered credentials are the operator's to configure.
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    if scenario in OPERATOR_CLIENT_IDS:
        spec["oauth_client_id"] = OPERATOR_CLIENT_IDS[scenario]
    if isinstance(context.get("client_id"), str):
        spec["oauth_client_id"] = context["client_id"]
    if isinstance(context.get("client_secret"), str):
        spec["oauth_client_secret"] = context["client_secret"]
    r = admin.post("/api/v1/servers", json=spec)
    created = body_of(r)
    if r.status_code != 201 or not isinstance(created, dict) or "id" not in created:
        raise Failure(f"creating the server answered {r.status_code}: {created}")
    server_id = created["id"]
    log(f"server {server_id} created for {server_url}")

    user = User(gateway, gateway.user_key(USER))
    user.connect(server_id)
    asyncio.run(use_tool(user, server_id))
    log(f"done after {user.authorizations} authorization(s)")


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: oauth_client.py <server-url>", file=sys.stderr)
        return 2
    server_url = sys.argv[-1]
    binary = os.environ.get("MANIFOLD_BIN")
    if not binary:
        print("MANIFOLD_BIN is not set", file=sys.stderr)
        return 2
    try:
        context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    except ValueError:
        context = {}
    log(f"scenario {os.environ.get('MCP_CONFORMANCE_SCENARIO', '?')}, server {server_url}")

    # A timeout in the suite sends SIGTERM: unwind so the gateway stops.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    gateway = Gateway(binary)
    try:
        run(gateway, server_url, context)
        return 0
    except Exception as e:  # noqa: BLE001 - any failure is reported the same way
        reason = str(e) if isinstance(e, Failure) else f"{type(e).__name__}: {e!r}"
        print(f"FAILED: {reason}", file=sys.stderr)
        print(f"--- gateway log (last lines) ---\n{gateway.log_tail()}", file=sys.stderr)
        return 1
    finally:
        gateway.close()


if __name__ == "__main__":
    sys.exit(main())
