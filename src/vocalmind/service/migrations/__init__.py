"""Alembic migrations of the service database (run by ``db.run_migrations``)."""
