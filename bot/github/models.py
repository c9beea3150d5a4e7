"""What the runner service returns: plain data, free of Slack and of HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Label:
    id: int | None
    name: str
    type: str  # "read-only" or "custom"

    @property
    def custom(self) -> bool:
        return self.type == "custom"


@dataclass(frozen=True, slots=True)
class Runner:
    id: int
    name: str
    os: str
    status: str
    busy: bool
    labels: tuple[Label, ...] = ()
    runner_group_id: int | None = None
    ephemeral: bool | None = None
    version: str | None = None

    @property
    def online(self) -> bool:
        return self.status == "online"

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Runner:
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            os=str(data.get("os") or "unknown"),
            status=str(data.get("status") or "unknown"),
            busy=bool(data.get("busy")),
            labels=tuple(
                Label(lab.get("id"), str(lab.get("name", "")), str(lab.get("type") or "read-only"))
                for lab in data.get("labels") or ()
            ),
            runner_group_id=data.get("runner_group_id"),
            ephemeral=data.get("ephemeral"),
            version=data.get("version"),
        )


@dataclass(frozen=True, slots=True)
class RunnerToken:
    """A registration or remove token. An admin secret: never log or post it in channel."""

    token: str = field(repr=False)
    expires_at: datetime

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> RunnerToken:
        return cls(token=str(data["token"]), expires_at=parse_time(str(data["expires_at"])))


@dataclass(frozen=True, slots=True)
class Download:
    os: str
    architecture: str
    download_url: str
    filename: str
    sha256_checksum: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Download:
        return cls(
            os=str(data["os"]),
            architecture=str(data["architecture"]),
            download_url=str(data["download_url"]),
            filename=str(data["filename"]),
            sha256_checksum=data.get("sha256_checksum"),
        )


def parse_time(value: str) -> datetime:
    """GitHub's timestamps: ISO 8601, ``Z`` or an offset; naive ones are UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
