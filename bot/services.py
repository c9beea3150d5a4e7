"""The long-lived objects a request handler needs, built once at start-up."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.github import GitHubClient
from bot.runners import RunnerService


@dataclass
class Services:
    settings: Settings
    github: GitHubClient
    runners: RunnerService
    slack: AsyncWebClient
    clock: Callable[[], float] = field(default=time.time)

    @classmethod
    def build(cls, settings: Settings, *, github_backoff: float = 0.5) -> Services:
        github = GitHubClient(
            api_url=settings.github_api_url,
            app_id=settings.github_app_id,
            private_key=settings.github_private_key,
            enterprise_token=settings.github_enterprise_token,
            timeout=settings.github_timeout,
            backoff=github_backoff,
        )
        slack = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        return cls(settings=settings, github=github, runners=RunnerService(github), slack=slack)

    async def close(self) -> None:
        await self.github.close()
