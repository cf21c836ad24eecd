"""Database: declarative base, engine and sessions, migrations."""
