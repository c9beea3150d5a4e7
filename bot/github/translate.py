"""GitHub's and the network's failures, turned into the errors a reply can say
(bot/errors.py): what a user can act on, and whether a write may have happened."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import gidgethub

from bot import errors
from bot.github.transport import OffOrigin, rate_limit_wait
from bot.targets import Scope, Target

T = TypeVar("T")

PERMISSION_BY_SCOPE = {
    Scope.ORG: "organization permission “Self-hosted runners” (read and write)",
    Scope.REPO: "repository permission “Administration” (read and write)",
    Scope.ENTERPRISE: "the classic token scope `manage_runners:enterprise`",
}


async def guard(target: Target, work: Awaitable[T], method: str, clock: Callable[[], float]) -> T:
    """Await ``work``, turning every GitHub or network failure into a reply-able error.

    A write (POST, DELETE...) that fails without a definite answer from GitHub (a 5xx,
    a timeout or a connection lost after sending, a body that cannot be read) may have
    been carried out: it becomes :class:`errors.OutcomeUnknown`, never "nothing changed".
    """
    write = method != "GET"
    try:
        return await work
    except errors.RunnerOpsError:
        raise
    except gidgethub.BadRequest as exc:
        raise translate(target, exc, clock()) from None
    except gidgethub.HTTPException as exc:
        detail = f"GitHub answered {exc.status_code}"
        if write:
            raise errors.OutcomeUnknown(target, detail) from None
        raise errors.GitHubUnavailable(target, detail) from None
    except (aiohttp.ClientConnectorError, OffOrigin) as exc:
        # Nothing reached GitHub (no connection; or a redirect we refused to follow).
        raise errors.GitHubUnavailable(target, type(exc).__name__) from None
    except (TimeoutError, aiohttp.ClientError) as exc:
        detail = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        if write:
            raise errors.OutcomeUnknown(target, detail) from None
        raise errors.GitHubUnavailable(target, detail) from None
    except ValueError:  # gidgethub could not decode the body (truncated JSON...)
        if write:
            raise errors.OutcomeUnknown(target, "an unreadable answer") from None
        raise errors.GitHubUnavailable(target, "an unreadable answer") from None


def translate(target: Target, exc: gidgethub.BadRequest, now: float) -> errors.RunnerOpsError:
    """A 4xx from GitHub as the error a user can act on."""
    status = exc.status_code
    message = str(exc.args[0]) if exc.args and exc.args[0] else ""
    if status == 404:
        return errors.NotFound(target)
    if status == 401:
        credential = (
            "GITHUB_ENTERPRISE_TOKEN"
            if target.scope is Scope.ENTERPRISE
            else "the GitHub App (GITHUB_APP_ID / GITHUB_PRIVATE_KEY)"
        )
        return errors.BadCredentials(target, credential)
    wait = rate_limit_wait(exc, now)
    if wait is not None:
        return errors.RateLimited(target, now + wait)
    if status == 403:
        return errors.Forbidden(target, PERMISSION_BY_SCOPE[target.scope], message)
    if status == 422:
        return errors.Unprocessable(target, message)
    if status == 409:
        return errors.Conflict(target, message)
    return errors.GitHubUnavailable(target, f"GitHub answered {status}")
