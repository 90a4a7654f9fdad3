"""Alembic's environment (`env.py`) and revision scripts (`versions/`) for the state store."""
