"""``python -m bot migrate`` (also installed as ``runnerops migrate``): apply the schema's
migrations to the database ``DATABASE_URL`` names, then exit. The Procfile's ``release:``
line runs it before a new release's processes start."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from bot.store import migrate
from bot.store.database import DatabaseConfigError, parse_database_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="runnerops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply pending database migrations (DATABASE_URL)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    if args.command == "migrate":
        try:
            url = parse_database_url(os.environ.get("DATABASE_URL"))
            revision = migrate.upgrade(url)
        except DatabaseConfigError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"runnerops: the database ({url.shown}) is at schema {revision}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
