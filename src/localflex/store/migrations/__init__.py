"""Alembic environment and revisions of the market database (see ``localflex.store.migrate``)."""
