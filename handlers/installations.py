"""GitHub App installation events keep the installation-id cache honest."""

from __future__ import annotations

from typing import Any

from gidgethub import routing, sansio

router = routing.Router()


@router.register("installation", action="deleted")
@router.register("installation", action="suspend")
async def installation_gone(event: sansio.Event, services: Any) -> None:
    services.github.forget_installation(event.data["installation"]["account"]["login"])


@router.register("installation_repositories", action="removed")
async def repositories_removed(event: sansio.Event, services: Any) -> None:
    services.github.forget_installation(event.data["installation"]["account"]["login"])
