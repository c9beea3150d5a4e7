"""A double of Slack's side: the Web API methods runnerops calls, and ``response_url``s.

Each command sent through the sandbox gets its own ``response_url`` on this double, so a
caller can await exactly the replies to that command, with no sleeping and no polling.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.sandbox.slack_charts import chart_errors
from bot.sandbox.slack_files import SlackFiles


@dataclass
class SlackDouble:
    bot_token: str
    team_id: str = "T0SANDBOX"
    users: dict[str, str] = field(default_factory=dict)  # user id -> name
    groups: dict[str, list[str]] = field(default_factory=dict)  # group id -> user ids
    base_url: str = ""  # set once served
    posted: list[dict[str, Any]] = field(default_factory=list)  # chat.postMessage bodies
    calls: list[str] = field(default_factory=list)  # Web API methods called, in order
    published: list[dict[str, Any]] = field(default_factory=list)  # views.publish: user, view
    # chat.update bodies, in order; and every message as it reads now, by (channel, ts).
    updated: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Channels the bot was never invited to (``not_in_channel``), and channels that do
    # not exist (``channel_not_found``); every other channel takes its messages.
    not_in: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    # Channels whose posts and updates Slack answers with this error (``ratelimited`` as
    # Slack sends it: HTTP 429 with Retry-After); and channels whose posts are taken but
    # answered only once the event is set (a client's timeout: the outcome unknown to it).
    failing: dict[str, str] = field(default_factory=dict)
    held: dict[str, asyncio.Event] = field(default_factory=dict)
    # Socket Mode: the app-level token apps.connections.open takes, and the WebSocket URL
    # it answers with (a bot.sandbox.socket_double on loopback); unset, it is refused.
    app_token: str = ""
    socket_url: str = ""
    # Files uploaded the external way (bot.sandbox.slack_files): pending and completed.
    files: SlackFiles = field(default_factory=SlackFiles)
    # Whether this workspace takes Slack's chart block (bot.sandbox.slack_charts).
    native_charts: bool = True

    def __post_init__(self) -> None:
        self._replies: dict[str, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)
        self._publishes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._posts: dict[str, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)
        self.all_replies: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._web_api, methods=["POST", "GET"]),
                Route("/response/{key}", self._response_url, methods=["POST"]),
                Route("/upload/{file_id}", self.files.receive, methods=["POST"]),
            ]
        )

    # -- response_url --------------------------------------------------------------

    def new_response_url(self) -> str:
        return f"{self.base_url}/response/{uuid.uuid4().hex}"

    def replies(self, response_url: str) -> asyncio.Queue[dict[str, Any]]:
        return self._replies[response_url.rsplit("/", 1)[-1]]

    async def next_publish(self, timeout: float = 30.0) -> dict[str, Any]:
        """The next Home view published (``{"user_id", "view"}``)."""
        return await asyncio.wait_for(self._publishes.get(), timeout)

    async def next_post(self, channel: str, timeout: float = 30.0) -> dict[str, Any]:
        """The next message posted to ``channel`` (a user id: a DM), as it was posted."""
        return await asyncio.wait_for(self._posts[channel].get(), timeout)

    async def next_reply(self, response_url: str, timeout: float = 30.0) -> dict[str, Any]:
        """The next body posted to ``response_url``; fails after ``timeout`` seconds."""
        return await asyncio.wait_for(self.replies(response_url).get(), timeout)

    async def _response_url(self, request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        if refused := self.refused(body.get("blocks"), "message"):
            return JSONResponse(refused, status_code=400)  # as Slack answers a response_url
        self.all_replies.append(body)
        await self._replies[request.path_params["key"]].put(body)
        return JSONResponse({"ok": True})

    def refused(self, blocks: Any, surface: str) -> dict[str, Any] | None:
        """``invalid_blocks`` as Slack answers it, for an image of no uploaded file, a
        chart block Slack would not draw here, or an actions block whose elements repeat
        an ``action_id``; None when Slack takes the blocks."""
        refused = self.files.refused_blocks(blocks)
        more = [
            *chart_errors(blocks, accepted=self.native_charts, surface=surface),
            *repeated_action_ids(blocks),
        ]
        if not more:
            return refused
        errors = [*(refused or {}).get("errors", []), *more]
        return {"ok": False, "error": "invalid_blocks", "errors": errors}

    # -- Web API -------------------------------------------------------------------

    async def _web_api(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        self.calls.append(method)
        if method == "apps.connections.open":  # the one method taking the app-level token
            return self._connections_open(request)
        if request.headers.get("authorization") != f"Bearer {self.bot_token}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        if request.headers.get("content-type", "").startswith("application/json"):
            args: dict[str, Any] = json.loads(await request.body() or b"{}")
        else:
            form = urllib.parse.parse_qsl((await request.body()).decode())
            args = dict(form) | dict(request.query_params)
        answer = {
            "auth.test": self._auth_test,
            "usergroups.users.list": self._usergroup_users,
            "users.info": self._users_info,
            "chat.postMessage": self._post_message,
            "chat.update": self._update_message,
            "views.publish": self._publish_view,
            "files.getUploadURLExternal": self._files_upload_url,
            "files.completeUploadExternal": self._files_complete,
        }.get(method)
        if answer is None:
            return JSONResponse({"ok": False, "error": "unknown_method"})
        return await answer(args)

    def _connections_open(self, request: Request) -> JSONResponse:
        if not self.app_token or request.headers.get("authorization") != (
            f"Bearer {self.app_token}"
        ):
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        if not self.socket_url:
            return JSONResponse({"ok": False, "error": "socket_mode_not_enabled"})
        return JSONResponse({"ok": True, "url": self.socket_url})

    async def _files_upload_url(self, args: dict[str, Any]) -> JSONResponse:
        return self.files.get_upload_url(args, self.base_url)

    async def _files_complete(self, args: dict[str, Any]) -> JSONResponse:
        return self.files.complete(args)

    async def _auth_test(self, args: dict[str, Any]) -> JSONResponse:
        return JSONResponse(
            {
                "ok": True,
                "url": "https://sandbox.slack.com/",
                "team": "Sandbox",
                "user": "runnerops",
                "team_id": self.team_id,
                "user_id": "U0RUNNEROPS",
                "bot_id": "B0RUNNEROPS",
            }
        )

    async def _usergroup_users(self, args: dict[str, Any]) -> JSONResponse:
        group = str(args.get("usergroup", ""))
        if group not in self.groups:
            return JSONResponse({"ok": False, "error": "no_such_subteam"})
        return JSONResponse({"ok": True, "users": self.groups[group]})

    async def _users_info(self, args: dict[str, Any]) -> JSONResponse:
        user = str(args.get("user", ""))
        if user not in self.users:
            return JSONResponse({"ok": False, "error": "user_not_found"})
        return JSONResponse({"ok": True, "user": {"id": user, "name": self.users[user]}})

    async def _post_message(self, args: dict[str, Any]) -> JSONResponse:
        if refused_blocks := self.refused(_blocks(args.get("blocks")), "message"):
            return JSONResponse(refused_blocks)  # as Slack: an image of no completed file
        channel = str(args.get("channel", ""))
        if refused := self._refuse(channel):
            return refused
        ts = f"{1_700_000_000 + len(self.messages)}.{len(self.posted) + 1:06d}"
        self.posted.append(args)
        message = {"type": "message", "text": args.get("text", ""), "ts": ts}
        if "blocks" in args:
            message["blocks"] = _blocks(args["blocks"])
        self.messages[(channel, ts)] = message
        await self._posts[channel].put(message)
        if channel in self.held:
            await self.held[channel].wait()
        return JSONResponse({"ok": True, "channel": channel, "ts": ts, "message": message})

    async def _update_message(self, args: dict[str, Any]) -> JSONResponse:
        if refused_blocks := self.refused(_blocks(args.get("blocks")), "message"):
            return JSONResponse(refused_blocks)
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        if refused := self._refuse(channel):
            return refused
        if (channel, ts) not in self.messages:
            return JSONResponse({"ok": False, "error": "message_not_found"})
        self.updated.append(args)
        message = {"type": "message", "text": args.get("text", ""), "ts": ts}
        if "blocks" in args:
            message["blocks"] = _blocks(args["blocks"])
        self.messages[(channel, ts)] = message
        return JSONResponse({"ok": True, "channel": channel, "ts": ts, "text": message["text"]})

    async def _publish_view(self, args: dict[str, Any]) -> JSONResponse:
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(view, dict) or view.get("type") != "home":
            return JSONResponse({"ok": False, "error": "invalid_arguments"})
        if len(view.get("blocks", [])) > 100:  # Slack's limit for a Home view
            return JSONResponse({"ok": False, "error": "invalid_arguments"})
        if refused_blocks := self.refused(view.get("blocks"), "home"):
            return JSONResponse(refused_blocks)
        published = {"user_id": args.get("user_id"), "view": view}
        self.published.append(published)
        await self._publishes.put(published)
        return JSONResponse({"ok": True, "view": {"id": "V0HOME", **view}})

    def _refuse(self, channel: str) -> JSONResponse | None:
        if error := self.failing.get(channel):
            limited = error == "ratelimited"
            return JSONResponse(
                {"ok": False, "error": error},
                status_code=429 if limited else 200,
                headers={"Retry-After": "1"} if limited else None,
            )
        if channel in self.missing or not channel:
            return JSONResponse({"ok": False, "error": "channel_not_found"})
        if channel in self.not_in:
            return JSONResponse({"ok": False, "error": "not_in_channel"})
        return None

    def in_channel(self, channel: str) -> list[dict[str, Any]]:
        """The messages of ``channel`` as they read now, oldest first."""
        return [m for (c, _), m in sorted(self.messages.items()) if c == channel]


def repeated_action_ids(blocks: Any) -> list[str]:
    """Slack refuses an actions block two of whose elements share an ``action_id``."""
    errors = []
    for index, block in enumerate(blocks if isinstance(blocks, list) else []):
        if not isinstance(block, dict) or block.get("type") != "actions":
            continue
        seen: set[str] = set()
        for element in block.get("elements") or []:
            action_id = element.get("action_id") if isinstance(element, dict) else None
            if isinstance(action_id, str) and action_id in seen:
                errors.append(
                    f"action_id {action_id!r} already exists [json-pointer:/blocks/{index}]"
                )
            elif isinstance(action_id, str):
                seen.add(action_id)
    return errors


def _blocks(value: Any) -> Any:
    # slack_sdk sends blocks as a JSON string in form posts, as a list in JSON posts.
    return json.loads(value) if isinstance(value, str) else value
