"""GitHub App installation events keep the installation-id cache honest; deliveries from
accounts this deployment does not serve are told apart here (``GITHUB_ALLOWED_ACCOUNTS``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gidgethub import routing, sansio

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)
router = routing.Router()
MAX_REMEMBERED = 10_000  # accounts whose refusal was logged, per process


def account_of(data: Any) -> str | None:
    """The account a delivery belongs to: its installation's account (installation
    events), else the repository's owner, else the organization. None when it names none
    (an App-level event)."""
    if not isinstance(data, dict):
        return None
    for outer, inner in (("installation", "account"), ("repository", "owner")):
        holder = data.get(outer)
        account = holder.get(inner) if isinstance(holder, dict) else None
        login = account.get("login") if isinstance(account, dict) else None
        if isinstance(login, str) and login:
            return login
    organization = data.get("organization")
    login = organization.get("login") if isinstance(organization, dict) else None
    return login if isinstance(login, str) and login else None


class NotServed:
    """Logs deliveries refused because their account is not served: an ``installation``
    event each time, with how to serve the account; any other delivery once per account
    (an installation on a busy account would otherwise fill the log)."""

    def __init__(self, max_remembered: int = MAX_REMEMBERED) -> None:
        self._logged: set[str] = set()
        self._max = max_remembered

    def refused(self, event: sansio.Event, account: str, allowed: tuple[str, ...]) -> None:
        served = ",".join(allowed) or "(the App's owner)"
        if event.event == "installation":
            installation = event.data.get("installation") or {}
            log.warning(
                "GitHub App installation %s on %s (%s) is not served: this deployment serves"
                " %s. To serve it, add %s to GITHUB_ALLOWED_ACCOUNTS (comma-separated,"
                " e.g. GITHUB_ALLOWED_ACCOUNTS=%s) and restart; until then its webhooks are"
                " refused and commands on its targets say it is not served",
                installation.get("id") if isinstance(installation, dict) else None,
                account,
                event.data.get("action", "?"),
                served,
                account,
                ",".join([*allowed, account.lower()]),
            )
            return
        key = account.lower()
        if key in self._logged:
            return
        if len(self._logged) >= self._max:
            self._logged.clear()  # bounded: an account may be logged once more
        self._logged.add(key)
        log.warning(
            "webhooks from %s are refused (first: %s): it is not in GITHUB_ALLOWED_ACCOUNTS"
            " (%s); logged once per account",
            account,
            event.event,
            served,
        )


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
