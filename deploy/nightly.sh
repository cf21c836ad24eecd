#!/bin/sh
# recheck's nightly jobs (docs/operations.md), in the order that matters: a backup first (while
# the server runs), then housekeeping, then the integrity check whose exit code says whether
# anything needs a person's attention. Settings come from the environment (RECHECK_*).
set -eu
RECHECK=${RECHECK:-recheck}
BACKUPS=${RECHECK_BACKUP_DIR:-/var/backups/recheck}
KEEP=${RECHECK_BACKUP_KEEP:-14}

case "${RECHECK_DATABASE_URL:-sqlite}" in
  postgresql*)
    echo "nightly: PostgreSQL install: back up with pg_dump / base backups (docs/operations.md)" ;;
  *)
    mkdir -p "$BACKUPS"
    "$RECHECK" backup "$BACKUPS/$(date -u +%Y%m%dT%H%M%SZ)"
    # keep the newest $KEEP backups
    ls -1d "$BACKUPS"/*/ 2>/dev/null | sort | head -n "-$KEEP" | while read -r old; do rm -rf "$old"; done ;;
esac
"$RECHECK" media cleanup
"$RECHECK" sync purge
"$RECHECK" idempotency purge
"$RECHECK" check
