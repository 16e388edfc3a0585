"""Alembic environment: migrations run on the connection handed over by ``db.run_migrations``.

Run from the command line (``alembic -x url=sqlite:///data/vocalmind.db upgrade head``) it
opens its own connection from ``-x url=...``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from vocalmind.service.models import Base

target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("give the database: alembic -x url=sqlite:///PATH/vocalmind.db ...")
    with create_engine(url).begin() as conn:
        _run(conn)
