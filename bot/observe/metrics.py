"""Prometheus metrics (``GET /metrics``, official ``prometheus_client``).

Each app has its own registry (tests build many apps in one process). Label values that
come from the outside world (runs-on label sets, repository owners, installations) are
bounded: normalised, and after :data:`MAX_VALUES` distinct values per label the rest
count as ``other``, so a flood of odd labels cannot grow the series without bound.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
from collections import Counter as Counter_
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

if TYPE_CHECKING:
    from bot.store import Store

# Where the platforms say which commit runs (Heroku's dyno metadata, Render, a CI build).
REVISION_VARIABLES = ("SOURCE_VERSION", "HEROKU_SLUG_COMMIT", "RENDER_GIT_COMMIT", "GIT_COMMIT")
MAX_VALUES = 100  # distinct values kept per bounded label
MAX_LABEL_SET = 120  # characters of one normalised label set
QUEUE_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400)
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


class Bounded:
    """The first ``limit`` distinct values pass; later ones become ``other``."""

    def __init__(self, limit: int = MAX_VALUES) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) >= self.limit:
                return "other"
            self._seen.add(value)
            return value


def label_set(labels: Iterable[str]) -> str:
    """``["Self-Hosted", "gpu", "linux"]`` -> ``gpu,linux,self-hosted`` (sorted, lower case)."""
    text = ",".join(sorted({str(label).strip().lower() for label in labels if label}))
    return text[:MAX_LABEL_SET] or "(none)"


def version() -> str:
    try:
        return importlib.metadata.version("runnerops")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def revision(environ: Mapping[str, str] = os.environ) -> str:
    """The commit being run, as the platform tells it; ``unknown`` when none does."""
    for name in REVISION_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            return value[:64]
    return "unknown"


class Metrics:
    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # The standard process and Python collectors, on this app's own registry (the
        # global one is not served).
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.build_info = Info("runnerops_build", "The version and revision running.", registry=r)
        self.build_info.info({"version": version(), "revision": revision(environ)})
        self.labels = Bounded()
        self.owners = Bounded()
        self.installations = Bounded()
        self.events = Bounded(50)
        self.targets = Bounded()
        self._traffic(r)
        self._fleet(r)
        self._sweep(r)

    def _traffic(self, r: CollectorRegistry) -> None:
        """What comes and goes: jobs queued, GitHub's API, Slack's acks, webhooks."""
        self.job_queue_seconds = Histogram(
            "runnerops_job_queue_seconds",
            "Time self-hosted jobs waited from created to started (workflow_job webhooks).",
            ["labels", "owner"],
            buckets=QUEUE_BUCKETS,
            registry=r,
        )
        self.github_requests = Counter(
            "runnerops_github_requests_total",
            "Requests to GitHub's API by method, status and installation (or credential).",
            ["method", "status", "installation"],
            registry=r,
        )
        self.github_rate_remaining = Gauge(
            "runnerops_github_rate_limit_remaining",
            "x-ratelimit-remaining of the last answer, per installation (or credential).",
            ["installation"],
            registry=r,
        )
        self.slack_acks = Counter(
            "runnerops_slack_acks_total",
            "Requests on /slack/events by HTTP status.",
            ["status"],
            registry=r,
        )
        self.slack_ack_seconds = Histogram(
            "runnerops_slack_ack_seconds",
            "Time to answer (acknowledge) a request on /slack/events.",
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "runnerops_webhook_deliveries_total",
            "GitHub webhook deliveries by event and outcome.",
            ["event", "outcome"],
            registry=r,
        )

    def _fleet(self, r: CollectorRegistry) -> None:
        """Read from the store at each scrape, by the sweep's lease holder alone (see
        serve()): a sum over processes counts each job once."""
        self.jobs_queued = Gauge(
            "runnerops_jobs_queued",
            "Self-hosted jobs queued now, by label set.",
            ["labels"],
            registry=r,
        )
        self.runners = Gauge(
            "runnerops_runners",
            "Runners of watched (or pruned) targets as last seen, by status.",
            ["target", "status"],
            registry=r,
        )
        self.alerts_open = Gauge(
            "runnerops_alerts_open",
            "Open alerts by kind and reason.",
            ["kind", "reason"],
            registry=r,
        )

    def _sweep(self, r: CollectorRegistry) -> None:
        """The watcher watched: set by the process that sweeps (the lease holder)."""
        self.sweep_last_success = Gauge(
            "runnerops_sweep_last_success_timestamp_seconds",
            "When each watched target was last swept whole (Unix time).",
            ["target"],
            registry=r,
        )
        self.sweep_failures = Counter(
            "runnerops_sweep_failures_total",
            "Sweep failures by target and reason: a watch not swept (GitHub, permission,"
            " installation, database, poll_budget, internal) or one alert, job or daily"
            " digest that failed alone (alert, job, digest).",
            ["target", "reason"],
            registry=r,
        )
        self.sweep_round_seconds = Histogram(
            "runnerops_sweep_round_seconds",
            "Duration of one sweep round.",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=r,
        )

    def swept(self, target: str, at: float) -> None:
        self.sweep_last_success.labels(self.targets(target.lower())).set(at)

    def unswept(self, target: str) -> None:
        """A target no longer watched: its freshness leaves the metrics (else an alert
        on staleness would fire for ever)."""
        try:
            self.sweep_last_success.remove(self.targets(target.lower()))
        except KeyError:
            pass

    def sweep_failed(self, target: str, reason: str) -> None:
        self.sweep_failures.labels(self.targets(target.lower() or "(all)"), reason).inc()

    def _from_store(self) -> tuple[Gauge, ...]:
        return (self.jobs_queued, self.runners, self.alerts_open)

    async def serve(self, store: Store, *, leader: bool) -> None:
        """Before a scrape: the lease holder reads the store-backed gauges; any other
        process serves none of them, nor a sweep freshness it may have set while it led
        (so that summing over processes, or scraping the leader, is right)."""
        if leader:
            await self.refresh(store)
            return
        for gauge in (*self._from_store(), self.sweep_last_success):
            gauge.clear()

    async def refresh(self, store: Store) -> None:
        """Set the store-backed gauges from the database, just before a scrape."""
        queued: Counter_[str] = Counter_()
        for labels, _owner in await store.jobs.queued_now():
            queued[self.labels(label_set(labels))] += 1
        runners: Counter_[tuple[str, str]] = Counter_()
        for target, status, count in await store.fleet.status_counts():
            runners[(self.targets(target), status)] += count
        alerts: Counter_[tuple[str, str]] = Counter_()
        for alert in await store.alerts.open_alerts():
            alerts[(str(alert.kind), alert.reason or "(none)")] += 1
        for gauge, values in (
            (self.jobs_queued, {(k,): v for k, v in queued.items()}),
            (self.runners, dict(runners)),
            (self.alerts_open, dict(alerts)),
        ):
            gauge.clear()
            for label_values, value in values.items():
                gauge.labels(*label_values).set(value)

    def job_started(self, labels: Iterable[str], owner: str, waited: float) -> None:
        self.job_queue_seconds.labels(
            self.labels(label_set(labels)), self.owners(owner.lower() or "(none)")
        ).observe(max(0.0, waited))

    def github_answer(
        self, method: str, status: int, headers: Mapping[str, str], credential: str
    ) -> None:
        # One bound for both series: an installation counted is one whose remaining shows.
        installation = self.installations(credential)
        self.github_requests.labels(method, str(status), installation).inc()
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            self.github_rate_remaining.labels(installation).set(int(remaining))

    def render(self) -> bytes:
        return generate_latest(self.registry)
