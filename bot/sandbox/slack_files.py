"""The Slack double's files: the external upload as Slack does it, and what blocks may
show of it.

``files.getUploadURLExternal`` answers a file id and an upload URL on the double itself;
the bytes are POSTed there; ``files.completeUploadExternal`` then makes the file real.
Until completed, a file does not exist for blocks: an image block naming it by
``slack_file`` is refused (``invalid_blocks``) as Slack refuses it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response


@dataclass
class SlackFile:
    id: str
    filename: str
    length: int
    alt_txt: str = ""
    data: bytes | None = None  # what the upload URL received
    title: str = ""
    channel: str | None = None  # where completeUploadExternal shared it (None: private)


def _missing(name: str) -> JSONResponse:
    return JSONResponse(
        {
            "ok": False,
            "error": "invalid_arguments",
            "response_metadata": {"messages": [f"[ERROR] missing required field: {name}"]},
        }
    )


@dataclass
class SlackFiles:
    pending: dict[str, SlackFile] = field(default_factory=dict)  # got a URL, not completed
    completed: dict[str, SlackFile] = field(default_factory=dict)  # usable in blocks
    # Set to an error code (``missing_scope``, ...) to make getUploadURLExternal refuse.
    refuse: str | None = None

    def get_upload_url(self, args: dict[str, Any], base_url: str) -> JSONResponse:
        if self.refuse:
            return JSONResponse({"ok": False, "error": self.refuse})
        filename, length = str(args.get("filename") or ""), str(args.get("length") or "")
        if not filename:
            return _missing("filename")
        if not length:
            return _missing("length")
        if not length.isdigit() or int(length) == 0:
            return JSONResponse({"ok": False, "error": "invalid_arguments"})
        file_id = f"F{len(self.pending) + len(self.completed) + 1:08d}"
        self.pending[file_id] = SlackFile(
            file_id, filename, int(length), alt_txt=str(args.get("alt_txt") or "")
        )
        return JSONResponse(
            {"ok": True, "upload_url": f"{base_url}/upload/{file_id}", "file_id": file_id}
        )

    async def receive(self, request: Request) -> Response:
        """The upload URL: takes the bytes (raw, as runnerops sends them) once."""
        pending = self.pending.get(request.path_params["file_id"])
        if pending is None or pending.data is not None:
            return PlainTextResponse("Not Found", status_code=404)
        pending.data = await request.body()
        return PlainTextResponse(f"OK - {len(pending.data)}")

    def complete(self, args: dict[str, Any]) -> JSONResponse:
        raw = args.get("files")
        if not raw:
            return _missing("files")
        try:
            files = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return JSONResponse({"ok": False, "error": "invalid_arguments"})
        if not isinstance(files, list) or not files:
            return JSONResponse({"ok": False, "error": "invalid_arguments"})
        ids = [str(f.get("id", "")) if isinstance(f, dict) else "" for f in files]
        if any(i not in self.pending or self.pending[i].data is None for i in ids):
            return JSONResponse({"ok": False, "error": "file_not_found"})
        done = []
        for entry, file_id in zip(files, ids, strict=True):
            file = self.pending.pop(file_id)
            file.title = str(entry.get("title") or file.filename)
            file.channel = str(args["channel_id"]) if args.get("channel_id") else None
            self.completed[file_id] = file
            done.append({"id": file_id, "name": file.filename, "title": file.title})
        return JSONResponse({"ok": True, "files": done})

    def refused_blocks(self, blocks: Any) -> dict[str, Any] | None:
        """``invalid_blocks`` for an image block whose ``slack_file`` is no completed file
        (or names a file both by id and by URL), as Slack answers; else None."""
        errors = []
        for index, block in enumerate(blocks if isinstance(blocks, list) else []):
            if not isinstance(block, dict) or block.get("type") != "image":
                continue
            slack_file = block.get("slack_file")
            if slack_file is None:
                continue
            where = f"[json-pointer:/blocks/{index}/slack_file]"
            if not isinstance(slack_file, dict) or ("id" in slack_file) == ("url" in slack_file):
                errors.append(f"must provide exactly one of id or url {where}")
            elif "id" in slack_file and slack_file["id"] not in self.completed:
                errors.append(f"invalid slack file {where}")
        if not errors:
            return None
        return {"ok": False, "error": "invalid_blocks", "errors": errors}
