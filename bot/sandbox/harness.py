"""The sandbox: runnerops served on loopback between a GitHub double and a Slack double.

Commands go in exactly as Slack sends them (form-encoded, signed per Slack's v0 scheme)
and replies come back on their ``response_url``. The demo and the tests both drive
runnerops through this class, so they exercise the same code path as production.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import hmac
import json
import secrets
import shutil
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.config import Settings
from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.serve import serve
from bot.sandbox.slack_double import SlackDouble
from bot.sandbox.socket_double import SocketDouble
from bot.services import Services
from bot.store import migrate
from bot.store.database import parse_database_url
from bot.sweep.ingest import Ingest
from bot.sweep.loop import Sweeper

APP_ID = "424242"
# Socket Mode's liveness checks in the sandbox: a cut connection is noticed in seconds.
SOCKET_PING_INTERVAL = 0.5


@dataclass
class Keys:
    private_pem: str
    public_pem: bytes

    @classmethod
    def generate(cls) -> Keys:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(private, public)


@dataclass
class Sent:
    """One request as Slack would send it, and runnerops' immediate answer (the ack)."""

    status: int
    body: str
    response_url: str
    elapsed: float


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def command_body(
    text: str,
    response_url: str,
    *,
    team_id: str = "T0SANDBOX",
    user_id: str = "U0ALICE",
    user_name: str = "alice",
    channel_id: str = "C0OPS",
    command: str = "/runners",
) -> bytes:
    """A slash command's form body as Slack posts it (each with a new ``trigger_id``); a
    function of its own so that a load generator in another process sends the same."""
    form = {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "team_domain": "sandbox",
        "channel_id": channel_id,
        "channel_name": "ops",
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": "A0RUNNEROPS",
        "response_url": response_url,
        "trigger_id": uuid.uuid4().hex,
    }
    return urllib.parse.urlencode(form).encode()


@dataclass
class Sandbox:
    """Everything running; use ``async with Sandbox.running(...) as sb``."""

    github: GitHubDouble
    slack: SlackDouble
    settings: Settings
    services: Services | None  # None for a view of a separate process
    url: str  # runnerops' base URL on loopback
    session: aiohttp.ClientSession
    keys: Keys
    signing_secret: str = field(repr=False, default="")
    sweeper: Sweeper | None = None  # the app's watch sweep; run a round with run_once()
    ingest: Ingest | None = None  # the app's group commit of workflow_job deliveries
    # Socket Mode's double when running with ``socket_mode=True``: Slack's requests then
    # travel as envelopes over runnerops' own WebSocket instead of to /slack/events.
    socket: SocketDouble | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        *,
        seed: Callable[[GitHubDouble], None] | None = None,
        prefix: str = "",
        enterprise_token: str | None = "sandbox-enterprise-pat",
        keys: Keys | None = None,
        github_backoff: float = 0.01,
        clock: Callable[[], float] = time.time,
        maintenance_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        socket_mode: bool = False,
        slack_reachable: bool = True,
        **settings_changes: Any,
    ) -> AsyncIterator[Sandbox]:
        """``clock`` is shared by the GitHub double (job times) and runnerops (its store,
        the watch's sweep), so a test moves time for both; JWTs stay on the wall clock.
        ``maintenance_sleep`` paces the app's background retention (a test releases it).
        With ``socket_mode`` runnerops gets an app-level token and no signing secret, and
        is connected to the Socket Mode double before this yields; unless
        ``slack_reachable`` is False: apps.connections.open then fails until a test sets
        ``sb.slack.socket_url = sb.socket.url`` (a Slack outage at start-up)."""
        keys = keys or Keys.generate()
        web_url = "https://github.com" if not prefix else "https://ghe.sandbox"
        github = GitHubDouble(
            app_id=APP_ID,
            public_key_pem=keys.public_pem,
            enterprise_token=enterprise_token,
            prefix=prefix,
            web_url=web_url,  # jobs' html_url point where runnerops expects GitHub
            clock=clock,
        )
        if seed is not None:
            seed(github)
        slack = SlackDouble(bot_token="xoxb-sandbox-" + secrets.token_hex(8))
        slack.users.update({"U0ALICE": "alice", "U0BOB": "bob"})
        from app import create_app

        socket = SocketDouble() if socket_mode else None
        async with (
            _scratch() as scratch,  # the database file; removed after the app has stopped
            serve(github.app) as github_url,
            serve(slack.app) as slack_url,
            contextlib.AsyncExitStack() as stack,
        ):
            slack.base_url = slack_url
            if socket is not None:
                socket_url = await stack.enter_async_context(socket.serving())
                slack.socket_url = socket_url if slack_reachable else ""
                slack.app_token = "xapp-1-A0RUNNEROPS-" + secrets.token_hex(8)
                settings_changes = {
                    "slack_app_token": slack.app_token,
                    "slack_signing_secret": "",
                    **settings_changes,
                }
            settings = sandbox_settings(
                keys,
                slack,
                github_api_url=github_url + prefix,
                github_url=web_url,
                github_enterprise_token=enterprise_token,
                database_url=f"sqlite:///{scratch}/runnerops.db",
                sweep_seconds=0.0,  # tests run a round with sb.sweeper.run_once()
            )
            settings = replace(settings, **settings_changes)
            services = Services.build(settings, github_backoff=github_backoff, clock=clock)
            app = create_app(
                settings,
                services,
                maintenance_sleep=maintenance_sleep,
                socket_ping_interval=SOCKET_PING_INTERVAL,
            )
            async with serve(app) as url, aiohttp.ClientSession() as session:
                if socket is not None and slack_reachable:
                    await socket.wait_connections(1)
                yield cls(
                    github,
                    slack,
                    settings,
                    services,
                    url,
                    session,
                    keys,
                    settings.slack_signing_secret,
                    app.state.sweeper,
                    app.state.ingest,
                    socket,
                )

    # -- Slack requests --------------------------------------------------------------

    def signed_headers(self, body: bytes, *, timestamp: float | None = None) -> dict[str, str]:
        ts = str(int(time.time() if timestamp is None else timestamp))
        return {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": slack_signature(self.signing_secret, ts, body),
        }

    def command_body(
        self,
        text: str,
        *,
        user_id: str = "U0ALICE",
        user_name: str = "alice",
        channel_id: str = "C0OPS",
        command: str = "/runners",
        response_url: str | None = None,
    ) -> tuple[bytes, str]:
        response_url = response_url or self.slack.new_response_url()
        body = command_body(
            text,
            response_url,
            team_id=self.slack.team_id,
            user_id=user_id,
            user_name=user_name,
            channel_id=channel_id,
            command=command,
        )
        return body, response_url

    async def post_slack(
        self, body: bytes, headers: dict[str, str], response_url: str = ""
    ) -> Sent:
        if self.socket is not None:  # the same request, as Slack sends it in Socket Mode
            kind, payload = as_envelope(body, headers.get("content-type", ""))
            ack = await self.socket.deliver(kind, payload)
            return Sent(200, json.dumps(ack.payload or {}), response_url, ack.elapsed)
        started = time.perf_counter()
        async with self.session.post(
            self.url + "/slack/events", data=body, headers=headers
        ) as resp:
            text = await resp.text()
        return Sent(resp.status, text, response_url, time.perf_counter() - started)

    async def send(self, text: str, **kwargs: Any) -> Sent:
        """Send a signed slash command; return the ack without waiting for the answer."""
        body, response_url = self.command_body(text, **kwargs)
        return await self.post_slack(body, self.signed_headers(body), response_url)

    async def run(self, text: str, timeout: float = 30.0, **kwargs: Any) -> dict[str, Any]:
        """Send a command and return the reply posted to its response_url."""
        sent = await self.send(text, **kwargs)
        if sent.status != 200:
            raise AssertionError(f"ack was {sent.status}: {sent.body}")
        return await self.slack.next_reply(sent.response_url, timeout)

    def click_body(
        self,
        message: dict[str, Any],
        *,
        action_id: str,
        user_id: str = "U0ALICE",
        user_name: str = "alice",
        channel_id: str = "C0OPS",
        response_url: str | None = None,
    ) -> tuple[bytes, str]:
        """The block_actions payload Slack sends when the button ``action_id`` is pressed."""
        button = find_button(message, action_id)
        response_url = response_url or self.slack.new_response_url()
        payload = {
            "type": "block_actions",
            "team": {"id": self.slack.team_id, "domain": "sandbox"},
            "user": {
                "id": user_id,
                "username": user_name,
                "name": user_name,
                "team_id": self.slack.team_id,
            },
            "api_app_id": "A0RUNNEROPS",
            "token": "deprecated-verification-token",
            "container": {
                "type": "message",
                "message_ts": str(message.get("ts") or "1700000000.000100"),
                "channel_id": channel_id,
                "is_ephemeral": "ts" not in message,
            },
            "trigger_id": uuid.uuid4().hex,
            "channel": {"id": channel_id, "name": "ops"},
            "response_url": response_url,
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "b",
                    "type": "button",
                    "value": button.get("value", ""),
                    "style": button.get("style"),
                    "text": button["text"],
                    "action_ts": str(time.time()),
                }
            ],
        }
        if "ts" in message:  # a channel message (posted, with its ts): Slack sends it along
            payload["message"] = message
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return body, response_url

    async def click(
        self, message: dict[str, Any], action_id: str, timeout: float = 30.0, **kwargs: Any
    ) -> dict[str, Any]:
        body, response_url = self.click_body(message, action_id=action_id, **kwargs)
        sent = await self.post_slack(body, self.signed_headers(body), response_url)
        if sent.status != 200:
            raise AssertionError(f"ack was {sent.status}: {sent.body}")
        return await self.slack.next_reply(response_url, timeout)

    async def open_home(self, user: str) -> dict[str, Any]:
        """Open the Home tab as Slack does (a signed ``app_home_opened`` event); return the
        view runnerops published for ``user``."""
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": self.slack.team_id,
                "api_app_id": "A0RUNNEROPS",
                "event": {"type": "app_home_opened", "user": user, "channel": "D0", "tab": "home"},
                "event_id": "Ev" + uuid.uuid4().hex[:10],
                "event_time": int(time.time()),
            }
        ).encode()
        headers = {**self.signed_headers(body), "content-type": "application/json"}
        sent = await self.post_slack(body, headers)
        if sent.status != 200:
            raise AssertionError(f"app_home_opened refused: {sent.status} {sent.body}")
        published = await self.slack.next_publish()
        if published["user_id"] != user:
            raise AssertionError(f"published for {published['user_id']}, not {user}")
        view: dict[str, Any] = published["view"]
        return view

    # -- GitHub webhooks -------------------------------------------------------------

    async def deliver(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        delivery: str | None = None,
        secret: str | None = None,
    ) -> tuple[int, str]:
        body = json.dumps(payload).encode()
        key = (secret or self.settings.github_webhook_secret).encode()
        headers = {
            "content-type": "application/json",
            "x-github-event": event,
            "x-github-delivery": delivery or str(uuid.uuid4()),
            "x-hub-signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
        }
        async with self.session.post(
            self.url + "/github/webhooks", data=body, headers=headers
        ) as resp:
            return resp.status, await resp.text()


def as_envelope(body: bytes, content_type: str) -> tuple[str, dict[str, Any]]:
    """An HTTP request's body as the Socket Mode envelope Slack sends instead: its type and
    its payload (a command's form as a dict, an interaction's or an event's JSON)."""
    if content_type.startswith("application/json"):
        return "events_api", json.loads(body)
    form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
    if "payload" in form:
        return "interactive", json.loads(form["payload"])
    return "slash_commands", form


def sandbox_settings(keys: Keys, slack: SlackDouble, **given: Any) -> Settings:
    """runnerops' settings between the doubles: fresh secrets, Slack's double as Slack."""
    return Settings(
        **{
            "github_app_id": APP_ID,
            "github_private_key": keys.private_pem,
            "github_webhook_secret": "whsec-" + secrets.token_hex(8),
            "slack_signing_secret": "slsec-" + secrets.token_hex(8),
            "slack_bot_token": slack.bot_token,
            "slack_api_url": slack.base_url + "/api/",
            "github_app_slug": "runnerops",
            "slack_response_url_prefixes": (slack.base_url + "/response/",),
            **given,
        }
    )


_migrated: Path | None = None  # a database file at the newest schema, made once per process


def _migrated_file() -> Path:
    """An SQLite file at the newest schema, migrated once per process and removed at exit.

    Each sandbox starts from a copy: the app's own start-up migration then finds nothing
    to do, instead of building every table again (migrations from an empty database are
    the store tests' to prove, with ``Store.open`` on a fresh file)."""
    global _migrated
    if _migrated is None:
        holder = tempfile.TemporaryDirectory(prefix="runnerops-schema-")
        atexit.register(holder.cleanup)
        path = Path(holder.name) / "runnerops.db"
        migrate.upgrade(parse_database_url(f"sqlite:///{path}"))
        _migrated = path
    return _migrated


@contextlib.asynccontextmanager
async def _scratch() -> AsyncIterator[str]:
    """A directory holding ``runnerops.db``, a copy of the migrated file."""
    with tempfile.TemporaryDirectory(prefix="runnerops-", ignore_cleanup_errors=True) as path:
        shutil.copyfile(_migrated_file(), Path(path) / "runnerops.db")
        yield path


def find_button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    for block in message.get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return cast(dict[str, Any], element)
    raise LookupError(f"no button {action_id!r} in the message")


def reply_text(message: dict[str, Any]) -> str:
    """All visible text of a reply, for assertions: fallback, sections, fields, context."""
    parts = [message.get("text", "")]
    for block in message.get("blocks", []):
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(text.get("text", ""))
        for f in block.get("fields", []) or []:
            parts.append(f.get("text", ""))
        for e in block.get("elements", []) or []:
            if isinstance(e, dict) and isinstance(e.get("text"), str):
                parts.append(e["text"])
    return "\n".join(parts)


# Who may do what in the sandbox: alice runs the platform; everyone else may read.
PLATFORM_POLICY = """
[[grant]]
name = "everyone reads"
actions = ["read"]
targets = ["*"]

[[grant]]
name = "platform team"
actions = ["read", "token", "admin"]
users = ["U0ALICE"]
targets = ["*"]
"""
