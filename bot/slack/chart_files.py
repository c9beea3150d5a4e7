"""Chart PNGs uploaded to Slack, for deployments Slack cannot reach (Socket Mode, or no
public address): an image block then names the file (``slack_file``) instead of a URL
Slack would have to fetch from runnerops.

Slack's upload is three calls: ``files.getUploadURLExternal`` (a URL and a file id), a
POST of the bytes to that URL, and ``files.completeUploadExternal`` without a channel, so
the file stays private to the app and serves only its blocks. The same chart (same bytes)
is uploaded once: its id is kept by the PNG's digest, bounded in memory, so opening the
Home tab again uploads nothing new. Every call has a deadline; a failed upload gives
None (the caller then shows the figures as text only) and is logged once until an upload
works again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import aiohttp
import cachetools
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

UPLOAD_DEADLINE = 10.0  # seconds for the three calls together
KEPT = 256  # charts whose file ids are remembered (a handful per watched target)
KEPT_FOR = 24 * 3600.0  # seconds: a day, so a file deleted in Slack is uploaded anew


class ChartFiles:
    def __init__(
        self, slack: AsyncWebClient, *, deadline: float = UPLOAD_DEADLINE, size: int = KEPT
    ) -> None:
        self.slack = slack
        self.deadline = deadline
        self._ids: cachetools.TTLCache[str, str] = cachetools.TTLCache(size, KEPT_FOR)
        # Uploads under way by digest: two opens of one chart at once upload it once,
        # while other charts' uploads go on beside.
        self._uploading: dict[str, asyncio.Future[str | None]] = {}
        self._failing = False

    async def file_id(self, png: bytes, filename: str, title: str) -> str | None:
        """The id of a Slack file holding ``png``: uploaded now, or the one uploaded
        before for the same bytes; None when Slack would not take it."""
        digest = hashlib.sha256(png).hexdigest()
        if (known := self._ids.get(digest)) is not None:
            return known
        upload = self._uploading.get(digest)
        if upload is None:
            upload = asyncio.ensure_future(self._upload_once(digest, png, filename, title))
            self._uploading[digest] = upload
            upload.add_done_callback(lambda _: self._uploading.pop(digest, None))
        return await asyncio.shield(upload)  # one waiter cancelled stops no other

    async def _upload_once(self, digest: str, png: bytes, filename: str, title: str) -> str | None:
        try:
            async with asyncio.timeout(self.deadline):
                file_id = await self._upload(png, filename, title)
        except Exception as exc:  # any failure: the figures as text
            self._failed(exc)
            return None
        self._failing = False
        self._ids[digest] = file_id
        return file_id

    async def _upload(self, png: bytes, filename: str, title: str) -> str:
        got: Any = await self.slack.files_getUploadURLExternal(
            filename=filename, length=len(png), alt_txt=title
        )
        upload_url, file_id = str(got["upload_url"]), str(got["file_id"])
        timeout = aiohttp.ClientTimeout(total=self.deadline)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(
                upload_url, data=png, headers={"Content-Type": "application/octet-stream"}
            ) as resp,
        ):
            if resp.status != 200:
                raise UploadRefused(f"the upload URL answered HTTP {resp.status}")
        # No channel_id: the file stays private to the app, for its own blocks.
        await self.slack.files_completeUploadExternal(files=[{"id": file_id, "title": title}])
        return file_id

    def _failed(self, exc: Exception) -> None:
        if self._failing:
            log.debug("chart upload failed again: %s", type(exc).__name__)
            return
        self._failing = True
        reason = f": {exc.response.get('error')}" if isinstance(exc, SlackApiError) else ""
        log.warning(
            "could not upload a chart to Slack (%s%s): charts are shown as text until an"
            " upload works (the app needs the files:write scope)",
            type(exc).__name__,
            reason,
        )


class UploadRefused(Exception):
    """Slack's upload URL did not take the bytes."""
