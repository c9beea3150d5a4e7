"""Who acts, and from where: what policy and audit need about a Slack request.

At the bottom of the layers, so the services (which audit) and the dispatcher (which
builds it from a request) both import it downward."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Caller:
    user_id: str
    user_name: str
    channel_id: str
    command_name: str = "/runners"
    base_url: str = ""  # runnerops' public URL as Slack reached it (for chart links)
