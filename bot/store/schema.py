"""The schema, defined once for both engines (SQLAlchemy Core).

Migrations under ``migrations/versions`` create exactly these tables; a test compares the
migrated database with this metadata so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from bot.timestamps import stored_time

STATUS_WIDTH = 16  # a job's or runner's status column; longer text is cut to fit

metadata = sa.MetaData()

# SQLite's rowid alias must be INTEGER exactly; PostgreSQL gets a 64-bit identity.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC times on both engines.

    PostgreSQL stores ``timestamptz``. SQLite stores fixed-width ISO-8601 text in UTC, as
    the audit file of earlier versions already did: such text sorts in time order and the
    old rows read back unchanged, with no data migration.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(32))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("times are stored timezone-aware")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.isoformat(timespec="microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else stored_time(value)


audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("user_id", sa.Text(), nullable=False),
    sa.Column("user_name", sa.Text(), nullable=False),
    sa.Column("action", sa.Text(), nullable=False),
    sa.Column("target", sa.Text(), nullable=False),
    sa.Column("outcome", sa.Text(), nullable=False),
    sa.Column("detail", sa.Text(), nullable=False, server_default=""),
    sa.Column("channel_id", sa.Text(), nullable=False, server_default=""),
    # Chosen by the writer (migration 0005): a write retried after a lost acknowledgement
    # finds its first attempt's row instead of adding a second. NULL on older entries.
    sa.Column("entry_key", sa.Text(), nullable=True),
    sa.Index("audit_at_id", "at", "id"),
    sa.Index("audit_entry_key", "entry_key", unique=True),
    sqlite_autoincrement=True,  # ids of pruned entries are never handed out again
)
# Targets match ignoring case ("Acme/API" is "acme/api").
sa.Index("audit_target_lower", sa.func.lower(audit.c.target), audit.c.at)

# "Done once" records: Slack command retries, Delete clicks, webhook deliveries. The first
# process to insert a key acts; the others read the outcome it leaves.
once = sa.Table(
    "once",
    metadata,
    sa.Column("key", sa.Text(), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # running | done
    sa.Column("claimed_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("outcome", sa.JSON(), nullable=True),
    sa.Index("once_expires", "expires_at"),
)

# -- the watch (migration 0002) --------------------------------------------------------

# Every workflow_job GitHub delivered (or the sweep confirmed), one row per job id. The
# status only moves forward (``status_rank``): a late ``in_progress`` delivery never turns a
# completed job back. ``owner_key``/``repo_key`` are lower-case so targets match any case.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.BigInteger(), nullable=True),
    sa.Column("run_attempt", sa.Integer(), nullable=True),
    sa.Column("repository", sa.Text(), nullable=False),
    sa.Column("owner_key", sa.Text(), nullable=False),
    sa.Column("repo_key", sa.Text(), nullable=False),
    sa.Column("repository_public", sa.Boolean(), nullable=True),
    sa.Column("workflow_name", sa.Text(), nullable=True),
    sa.Column("name", sa.Text(), nullable=True),
    sa.Column("labels", sa.JSON(), nullable=False),
    sa.Column("hosted", sa.Boolean(), nullable=False),
    sa.Column("html_url", sa.Text(), nullable=True),
    sa.Column("head_sha", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("completed_at", UTCDateTime(), nullable=True),
    sa.Column("runner_id", sa.BigInteger(), nullable=True),
    sa.Column("runner_name", sa.Text(), nullable=True),
    sa.Column("runner_group_id", sa.BigInteger(), nullable=True),
    sa.Column("runner_group_name", sa.Text(), nullable=True),
    sa.Column("conclusion", sa.Text(), nullable=True),
    sa.Column("status", sa.String(STATUS_WIDTH), nullable=False),
    sa.Column("status_rank", sa.Integer(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # When the sweep last asked GitHub about this job (migration 0006): at most once per
    # its watch's --after, and once more past GitHub's 24-hour limit.
    sa.Column("confirmed_at", UTCDateTime(), nullable=True),
    # Whether the job's queue time is counted in ``job_waits`` (migration 0007): set in
    # the transaction that first stores it started, so a job is counted exactly once.
    sa.Column("waits_rolled", sa.Boolean(), nullable=False, server_default=sa.false()),
    # Whether its run is counted in ``runner_hours``: set in the transaction that first
    # stores it finished (started, completed, on a named runner).
    sa.Column("usage_rolled", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Index("jobs_owner_status", "owner_key", "status_rank", "created_at"),
    sa.Index("jobs_repo_created", "repo_key", "created_at"),
    # Retention and the hourly closing of ghosts read by age alone (migration 0006).
    sa.Index("jobs_rank_created", "status_rank", "created_at"),
    # The jobs not (yet) in ``job_waits``, which ``stats`` reads one by one: queued, or
    # cancelled while queued (migration 0007). Small: a job leaves it when it starts.
    sa.Index(
        "jobs_waits_unrolled",
        "owner_key",
        "created_at",
        postgresql_where=sa.text("NOT waits_rolled"),
        sqlite_where=sa.text("NOT waits_rolled"),
    ),
    # Started jobs not (yet) in ``runner_hours``: the ones running now, read one by one.
    sa.Index(
        "jobs_usage_unrolled",
        "owner_key",
        "started_at",
        postgresql_where=sa.text("NOT usage_rolled AND started_at IS NOT NULL"),
        sqlite_where=sa.text("NOT usage_rolled AND started_at IS NOT NULL"),
    ),
    # Finished runs by start, for the partial hours at a window's edges.
    sa.Index(
        "jobs_usage_started",
        "owner_key",
        "started_at",
        postgresql_where=sa.text("usage_rolled"),
        sqlite_where=sa.text("usage_rolled"),
    ),
)

# The capacity replay's read (bot/store/job_stats.py ``recent_rows``, migration 0012): an
# organization's finished self-hosted jobs, newest first, in the order read. PostgreSQL
# answers it from the index alone (INCLUDE); SQLite, which has no INCLUDE and cannot key
# ``json`` on PostgreSQL's side of one definition, looks the rows up as before.
FINISHED_RUNS_WHERE = (
    "status_rank = 2 AND NOT hosted AND started_at IS NOT NULL AND completed_at IS NOT NULL"
)
sa.Index(
    "jobs_finished_runs",
    jobs.c.owner_key,
    jobs.c.status_rank,
    jobs.c.created_at,
    jobs.c.id,
    postgresql_include=["repo_key", "started_at", "completed_at", "runner_name", "labels"],
    postgresql_where=sa.text(FINISHED_RUNS_WHERE),
    sqlite_where=sa.text(FINISHED_RUNS_WHERE),
)

# Queue times rolled up as jobs start (migration 0007), so ``stats`` reads one row per
# target, hour or day, label set and distinct wait rather than one per job. Each started
# job counts once under its organization (``target_key`` = owner_key) and once under its
# repository (= repo_key), in the hour (``span`` 1) and the UTC day (``span`` 24, ``hour``
# its midnight) of its ``created_at``, with its wait in whole
# microseconds (the times' own resolution: the figures are exactly those of the jobs).
# ``labels_key`` is the label set's JSON text, or its digest when longer than an index
# entry should hold (bot/store/rollups.py); the readable text is kept beside it.
job_waits = sa.Table(
    "job_waits",
    metadata,
    sa.Column("target_key", sa.Text(), primary_key=True),
    sa.Column("span", sa.SmallInteger(), primary_key=True, autoincrement=False),
    sa.Column("hour", UTCDateTime(), primary_key=True),
    sa.Column("labels_key", sa.Text(), primary_key=True),
    sa.Column("wait_us", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("labels", sa.Text(), nullable=False),
    sa.Column("jobs", sa.BigInteger(), nullable=False),
)

# Runner usage rolled up as jobs finish (migration 0007): per target (as in job_waits),
# runner and hour (and day, as in job_waits), the runs that started in it (``starts``)
# and the time runs took in it (``busy_us``, each run clipped to it), and the earliest
# start of a run that touched it (``first_start``: where to look for the runs crossing
# into a window's first, partial hour). ``runner_key`` is the name, or its digest when long.
runner_hours = sa.Table(
    "runner_hours",
    metadata,
    sa.Column("target_key", sa.Text(), primary_key=True),
    sa.Column("runner_key", sa.Text(), primary_key=True),
    sa.Column("span", sa.SmallInteger(), primary_key=True, autoincrement=False),
    sa.Column("hour", UTCDateTime(), primary_key=True),
    sa.Column("runner_name", sa.Text(), nullable=False),
    sa.Column("starts", sa.BigInteger(), nullable=False),
    sa.Column("busy_us", sa.BigInteger(), nullable=False),
    sa.Column("first_start", UTCDateTime(), nullable=False),
    sa.Index("runner_hours_hour", "target_key", "span", "hour"),
)

# Who asked for alerts on which target in which channel, with their thresholds.
watches = sa.Table(
    "watches",
    metadata,
    sa.Column("channel", sa.Text(), primary_key=True),
    sa.Column("target_key", sa.Text(), primary_key=True),
    sa.Column("target", sa.Text(), nullable=False),
    sa.Column("after_seconds", sa.Integer(), nullable=False),
    sa.Column("offline_after_seconds", sa.Integer(), nullable=False),
    sa.Column("created_by", sa.Text(), nullable=False),
    sa.Column("created_by_name", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # Migration 0009: ``--mention`` targets (space-separated Slack mentions) and after how
    # long an unacknowledged alert mentions them.
    sa.Column("mentions", sa.Text(), nullable=False, server_default=""),
    sa.Column("mention_after_seconds", sa.Integer(), nullable=False, server_default="900"),
    # Migration 0010: ``--version-warn`` (default 14 days), ``--digest HH:MM`` in ``--tz``,
    # and the local day (YYYY-MM-DD) whose digest one process claimed last.
    sa.Column("version_warn_seconds", sa.Integer(), nullable=False, server_default="1209600"),
    sa.Column("digest_at", sa.String(5), nullable=True),
    sa.Column("digest_tz", sa.Text(), nullable=False, server_default="UTC"),
    sa.Column("digest_day", sa.String(10), nullable=True),
)

# Alerts: one row per open alert key and channel; a resolved one keeps its row (renamed
# key) for the record. ``posting_at`` is the claim that lets one process post it.
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.Text(), nullable=False),
    sa.Column("key", sa.Text(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("target", sa.Text(), nullable=False),
    sa.Column("message_ts", sa.Text(), nullable=True),
    sa.Column("state", sa.JSON(), nullable=False),
    sa.Column("opened_at", UTCDateTime(), nullable=False),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Column("posting_at", UTCDateTime(), nullable=True),
    # Migration 0009: Acknowledge and Snooze 1h (who, when), and the claim of the one
    # escalation reply; columns of their own so the sweep's saves never overwrite them.
    sa.Column("acknowledged_by", sa.Text(), nullable=True),
    sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
    sa.Column("snoozed_by", sa.Text(), nullable=True),
    sa.Column("snoozed_until", UTCDateTime(), nullable=True),
    sa.Column("escalated_at", UTCDateTime(), nullable=True),
    # Migration 0011: a fix made from the alert's button (who, when, what was done).
    sa.Column("fixed_by", sa.Text(), nullable=True),
    sa.Column("fixed_at", UTCDateTime(), nullable=True),
    sa.Column("fix_note", sa.Text(), nullable=True),
    sa.UniqueConstraint("channel", "key", name="alerts_channel_key"),
)

# Each watch's health (migration 0006): since when it cannot be swept and why, the one
# Slack message saying so (updated in place), and when it was last swept whole.
watch_health = sa.Table(
    "watch_health",
    metadata,
    sa.Column("channel", sa.Text(), primary_key=True),
    sa.Column("target_key", sa.Text(), primary_key=True),
    sa.Column("failing_since", UTCDateTime(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    sa.Column("detail", sa.Text(), nullable=False, server_default=""),
    sa.Column("notice_ts", sa.Text(), nullable=True),
    sa.Column("last_success", UTCDateTime(), nullable=True),
)

# Runners of watched targets as the sweep last saw them: when each was last online.
runners_seen = sa.Table(
    "runners_seen",
    metadata,
    sa.Column("target_key", sa.Text(), primary_key=True),
    sa.Column("runner_id", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("status", sa.String(STATUS_WIDTH), nullable=False),
    sa.Column("busy", sa.Boolean(), nullable=False),
    sa.Column("last_seen_online", UTCDateTime(), nullable=True),
    sa.Column("first_seen_offline", UTCDateTime(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# Leases: who leads a background task (the sweep), on both engines; a holder that dies
# loses it when ``expires_at`` passes (bot/store/leases.py).
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.Text(), primary_key=True),
    sa.Column("holder", sa.Text(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)

# A prune's dry run, kept for its Delete button: the button's value cannot hold hundreds
# of runner ids (2,000 characters), so it holds this plan's id.
prune_plans = sa.Table(
    "prune_plans",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("target", sa.Text(), nullable=False),
    sa.Column("runners", sa.JSON(), nullable=False),  # [[id, name], ...]
    sa.Column("criteria", sa.Text(), nullable=False),
    sa.Column("created_by", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("prune_plans_expires", "expires_at"),
)

# The fleet over time, for the Home tab's chart: counts per target per ten minutes, written
# by every listing of a watched (or pruned) target.
fleet_samples = sa.Table(
    "fleet_samples",
    metadata,
    sa.Column("target_key", sa.Text(), primary_key=True),
    sa.Column("at", UTCDateTime(), primary_key=True),
    sa.Column("online", sa.Integer(), nullable=False),
    sa.Column("busy", sa.Integer(), nullable=False),
    sa.Column("offline", sa.Integer(), nullable=False),
)

# Each runner version's end-of-life dates as GitHub published them (``versions``), asked
# at most once a day per version and shared by every process. ``published`` false: GitHub
# answered 404 (no dates for that version).
runner_versions = sa.Table(
    "runner_versions",
    metadata,
    sa.Column("version", sa.Text(), primary_key=True),
    sa.Column("registration_deprecates_at", UTCDateTime(), nullable=True),
    sa.Column("runtime_deprecates_at", UTCDateTime(), nullable=True),
    sa.Column("published", sa.Boolean(), nullable=False),
    sa.Column("checked_at", UTCDateTime(), nullable=False),
)
