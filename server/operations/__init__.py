"""Running an install: backup and restore of the embedded default, the integrity check, moving data."""
