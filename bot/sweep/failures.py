"""What a sweep round did, and the words and metric reasons for what failed in it.

Pure except :func:`failed_alone`, which logs and counts: kept apart from the round's
I/O (bot/sweep/loop.py) so that what a channel reads and what a metric says are decided
in one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from slack_sdk.errors import SlackApiError

from bot import errors
from bot.observe.metrics import Metrics
from bot.store.database import StoreUnavailable
from bot.store.health import WatchId
from bot.store.watches import Watch
from bot.watch.alerts import Alert, StuckJob

log = logging.getLogger(__name__)

AlertId = tuple[str, str]  # (channel, key)


def alert_id(alert: Alert) -> AlertId:
    return alert.channel, alert.key


def watch_id(watch: Watch) -> WatchId:
    return watch.channel, watch.target_key


@dataclass
class Round:
    """What one round did, for the log and the tests."""

    leader: bool = True
    stuck: int = 0
    posted: int = 0
    updated: int = 0
    resolved: int = 0
    deferred: int = 0
    skipped: list[str] = field(default_factory=list)  # watches left as they were
    paced: list[str] = field(default_factory=list)  # watched from the last listing
    failed: int = 0  # alerts or jobs that failed alone (logged and counted)
    gone: int = 0  # jobs GitHub no longer knows, closed this round
    escalated: int = 0  # thread replies mentioning a watch's --mention targets
    digests: int = 0  # daily digests posted (``--digest``)


@dataclass
class Failure:
    """Why one watch could not be swept this round: a metric's reason and the words."""

    reason: str
    text: str


def metric_reason(exc: errors.RunnerOpsError) -> str:
    """The metric's reason for a GitHub-side failure: a few fixed words."""
    match exc:
        case errors.Forbidden():
            return "permission"
        case errors.NotInstalled() | errors.NotFound():
            return "installation"
        case errors.BadCredentials() | errors.EnterpriseTokenMissing():
            return "credentials"
        case errors.RateLimited():
            return "rate_limit"
        case _:
            return "github"


def database_failure(reason: str) -> Failure:
    """Words for the channel: the short reason the store gives (never the driver's full
    message, which may hold SQL or hosts; that is in the log)."""
    return Failure(
        "database",
        f"the database did not answer ({reason}); runnerops tries again every round."
        " An operator can check `/readyz` and the database's own status.",
    )


def internal_failure(exc: Exception) -> Failure:
    return Failure(
        "internal",
        f"an unexpected error ({type(exc).__name__}); the service log has the details."
        " runnerops tries again every round.",
    )


def poll_budget_failure(share: float, kept: timedelta | None) -> Failure:
    """The poll budget left the account's runner listing out for too long: stuck jobs
    are still alerted from the last listing, offline runners wait for the next."""
    last = "none is kept" if kept is None else "the last is older than the notice delay"
    return Failure(
        "poll_budget",
        f"the poll budget (`RUNNEROPS_POLL_BUDGET`, {share:.0%} of the hourly rate limit)"
        f" paces how often this account's runners are listed, and {last}. Stuck jobs are"
        " still alerted on; offline runners may be reported late. Raise"
        " `RUNNEROPS_POLL_BUDGET`, or watch fewer or smaller targets per installation.",
    )


def still_there(alerts: list[Alert], unknown: set[int]) -> list[StuckJob]:
    """Members of the watch's open alerts whose job could not be looked at this round:
    kept as they were (silence is never taken for "resolved")."""
    return [
        StuckJob(
            job_id=m.id,
            name=m.name,
            target=alert.target,
            channel=alert.channel,
            reason=alert.reason,
            labels=alert.labels,
            queued_since=m.since,
        )
        for alert in alerts
        for m in alert.members
        if m.id in unknown
    ]


def words(exc: BaseException) -> str:
    """The error's own message (never only its class), on one line."""
    if isinstance(exc, errors.RunnerOpsError):
        return repr(exc)  # its fields say what failed where; errors never hold a credential
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# Slack's errors after which what was asked may have partly happened (its method docs:
# "It's possible some aspect of the operation succeeded before the error was raised").
MAYBE_DONE = frozenset({"internal_error", "fatal_error"})


def surely_refused(exc: SlackApiError) -> bool:
    """Whether Slack answered without doing what was asked: an error of its own such as
    ``ratelimited``, ``not_in_channel`` or ``channel_not_found``. An HTTP 5xx, a body
    that is no error, or an error after which it may have happened is not sure."""
    response = exc.response
    if response is None or response.status_code >= 500:
        return False
    data = response.data
    error = data.get("error") if isinstance(data, dict) else None
    return isinstance(error, str) and error not in MAYBE_DONE


def failed_alone(
    metrics: Metrics, done: Round, target: str, reason: str, key: object, exc: Exception
) -> None:
    """One alert or job failed: logged with its key and the error's own words,
    counted, and the round goes on."""
    done.failed += 1
    metrics.sweep_failed(target, reason)
    expected = isinstance(exc, StoreUnavailable | errors.RunnerOpsError | SlackApiError)
    log.error("sweep: %s %s failed: %s", reason, key, words(exc), exc_info=not expected)
