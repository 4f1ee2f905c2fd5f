"""The store: every table, migration, codec and query of vigia's history (SQLite or PostgreSQL)."""
