"""``python -m bot migrate`` (also installed as ``runnerops migrate``): apply the schema's
migrations to the database ``DATABASE_URL`` names, then exit. The Procfile's ``release:``
line runs it before a new release's processes start."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from bot.observe import logs
from bot.store import migrate
from bot.store.database import DatabaseConfigError, parse_database_url

log = logging.getLogger("bot.migrate")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="runnerops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    migrate_command = commands.add_parser(
        "migrate", help="apply pending database migrations (DATABASE_URL)"
    )
    migrate_command.add_argument(
        "--to",
        metavar="REVISION",
        help="undo the migrations after REVISION instead (before rolling back a release)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    # As the web process does: a log drain that parses JSON gets only JSON lines.
    as_json = (os.environ.get("LOG_FORMAT") or "text").strip().lower() == "json"
    logs.configure("json" if as_json else "text")
    if args.command == "migrate":
        try:
            url = parse_database_url(os.environ.get("DATABASE_URL"))
            if args.to:
                revision = migrate.downgrade(url, args.to)
            else:
                revision = migrate.upgrade(url)
        except DatabaseConfigError as exc:
            _say(str(exc), as_json, error=True)
            return 1
        _say(f"runnerops: the database ({url.shown}) is at schema {revision}", as_json)
    return 0


def _say(message: str, as_json: bool, *, error: bool = False) -> None:
    """The command's own result: a log record in JSON mode, else plain text."""
    if as_json:
        log.log(logging.ERROR if error else logging.INFO, "%s", message)
    else:
        print(message, file=sys.stderr if error else sys.stdout)


if __name__ == "__main__":
    raise SystemExit(main())
