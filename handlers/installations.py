"""GitHub App installation events keep the installation-id cache honest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gidgethub import routing, sansio

if TYPE_CHECKING:
    from bot.services import Services

router = routing.Router()


@router.register("installation", action="deleted")
@router.register("installation", action="suspend")
async def installation_gone(event: sansio.Event, services: Services) -> None:
    installation = event.data["installation"]
    services.github.forget_installation(installation["account"]["login"], installation.get("id"))


@router.register("installation_repositories", action="removed")
async def repositories_removed(event: sansio.Event, services: Services) -> None:
    installation = event.data["installation"]
    services.github.forget_installation(installation["account"]["login"], installation.get("id"))
