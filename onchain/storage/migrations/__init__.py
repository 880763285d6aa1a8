"""Alembic migrations for `onchain.storage` (run by `onchain db upgrade` and on `Store.open`)."""
