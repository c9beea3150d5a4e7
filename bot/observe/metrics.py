"""Prometheus metrics (``GET /metrics``, official ``prometheus_client``).

Each app has its own registry (tests build many apps in one process). Label values that
come from the outside world (runs-on label sets, repository owners, installations) are
bounded: normalised, and after :data:`MAX_VALUES` distinct values per label the rest
count as ``other``, so a flood of odd labels cannot grow the series without bound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

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


# A gauge computed at scrape time from the store: (labels dict, value) pairs.
Sample = tuple[Mapping[str, str], float]


class _StoreGauges(Collector):
    def __init__(self) -> None:
        self.sources: list[tuple[str, str, tuple[str, ...], Callable[[], Iterable[Sample]]]] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, doc, labels, source in self.sources:
            family = GaugeMetricFamily(name, doc, labels=list(labels))
            for values, value in source():
                family.add_metric([values.get(label, "") for label in labels], value)
            yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.labels = Bounded()
        self.owners = Bounded()
        self.installations = Bounded()
        self.events = Bounded(50)
        self.job_queue_seconds = Histogram(
            "runnerops_job_queue_seconds",
            "Time self-hosted jobs waited from created to started (workflow_job webhooks).",
            ["labels", "owner"],
            buckets=QUEUE_BUCKETS,
            registry=r,
        )
        self.github_requests = Counter(
            "runnerops_github_requests_total",
            "Requests to GitHub's API by method and status.",
            ["method", "status"],
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
        self._store_gauges = _StoreGauges()
        r.register(self._store_gauges)

    def gauge_from(
        self, name: str, doc: str, labels: tuple[str, ...], source: Callable[[], Iterable[Sample]]
    ) -> None:
        """A gauge read at scrape time (jobs queued, runners by status, open alerts)."""
        self._store_gauges.sources.append((name, doc, labels, source))

    def job_started(self, labels: Iterable[str], owner: str, waited: float) -> None:
        self.job_queue_seconds.labels(
            self.labels(label_set(labels)), self.owners(owner.lower() or "(none)")
        ).observe(max(0.0, waited))

    def github_answer(
        self, method: str, status: int, headers: Mapping[str, str], credential: str
    ) -> None:
        self.github_requests.labels(method, str(status)).inc()
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            self.github_rate_remaining.labels(self.installations(credential)).set(int(remaining))

    def render(self) -> bytes:
        return generate_latest(self.registry)
