"""Alembic environment: runs on a connection handed over by `onchain.storage.migrate`.

`alembic -c onchain/storage/migrations/alembic.ini upgrade head` also works when `sqlalchemy.url`
is given with `-x url=...`; the usual way is `onchain db upgrade`. The revisions themselves spell their
tables out; `target_metadata` (every feature's tables, gathered by `onchain.schema`) serves autogenerate
and comparisons. Alembic runs this file by path; no module of `onchain.storage` imports it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from onchain.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("pass the database URL: alembic -x url=sqlite:///data/onchain.db upgrade head")
    engine = create_engine(url)
    with engine.begin() as sync_connection:
        _run(sync_connection)
