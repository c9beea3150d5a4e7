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


@router.register("installation", action="new_permissions_accepted")
async def permissions_accepted(event: sansio.Event, services: Services) -> None:
    """An admin accepted new permissions: tokens minted before do not carry them."""
    installation_id = event.data["installation"].get("id")
    if installation_id is not None:
        services.github.forget_token(int(installation_id))
