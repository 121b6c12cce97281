#!/usr/bin/env bash
# Entrypoint of local/postgres (tests only): the official postgres image's contract on Debian's packages.
# First start on an empty PGDATA: initdb with POSTGRES_USER as superuser and POSTGRES_PASSWORD and initdb's
# own pg_hba.conf (local socket, 127.0.0.1 and ::1 TRUSTED, as in the official image), then one appended
# `host all all all <method>` line, listen on all addresses, create POSTGRES_DB, run /docker-entrypoint-initdb.d/*.
# Then (and on every later start) run postgres in the foreground as the postgres user.
set -Eeuo pipefail

# VAR, or VAR_FILE naming a file that holds it (docker/compose secrets), like the official image.
file_env() {
  local var=$1 default=${2:-} file_var="${1}_FILE" val
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    echo >&2 "error: both $var and $file_var are set (but are exclusive)"
    exit 1
  fi
  val=$default
  if [ -n "${!var:-}" ]; then
    val=${!var}
  elif [ -n "${!file_var:-}" ]; then
    val=$(<"${!file_var}")
  fi
  export "$var"="$val"
  unset "$file_var"
}

if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi

# As the official image's docker_create_db_directories, step for step, so that this image needs the same
# capabilities: chmod may fail (ignored), chown only what the postgres user does not own yet (a fresh tmpfs
# or volume: CAP_CHOWN), and `find` walks the 0700 data directory as root (CAP_DAC_OVERRIDE or
# CAP_DAC_READ_SEARCH) on every start after the first.
if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA"
  chmod 00700 "$PGDATA" || :
  mkdir -p /var/run/postgresql || :
  chmod 03775 /var/run/postgresql || :
  find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
  find /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" = postgres ]; then
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "$POSTGRES_PASSWORD" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]; then
      cat >&2 <<'EOM'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser.
       (Or POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a password.)
EOM
      exit 1
    fi
    chmod 700 "$PGDATA" 2>/dev/null || :

    # No --auth flags, as in the official image: initdb's pg_hba.conf trusts the local socket AND TCP from
    # 127.0.0.1 and ::1, so only a client from another address (another container) is asked for a password.
    # The password goes through a pipe (/dev/fd), as there: no file, so a read-only root without /tmp works.
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of arguments
    if [ -n "$POSTGRES_PASSWORD" ]; then
      initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") $POSTGRES_INITDB_ARGS -D "$PGDATA"
    else
      initdb --username="$POSTGRES_USER" $POSTGRES_INITDB_ARGS -D "$PGDATA"
    fi

    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    # The official image's pg_setup_hba_conf: the method defaults to the server's password_encryption
    # (scram-sha-256 from PostgreSQL 14) and is APPENDED after initdb's trusted loopback lines.
    : "${POSTGRES_HOST_AUTH_METHOD:=$(postgres -C password_encryption)}"
    {
      printf '\n'
      if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
        printf '# warning trust is enabled for all connections\n'
      fi
      printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD"
    } >>"$PGDATA/pg_hba.conf"

    # A temporary server on the Unix socket only, to create the database and run the init scripts.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    export PGUSER="$POSTGRES_USER"
    if [ "$POSTGRES_DB" != postgres ]; then
      psql -v ON_ERROR_STOP=1 --no-password --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    for f in /docker-entrypoint-initdb.d/*; do
      # shellcheck disable=SC1090 # init scripts are the user's
      case "$f" in
        *.sh) echo "running $f" && . "$f" ;;
        *.sql) echo "running $f" && psql -v ON_ERROR_STOP=1 --no-password --dbname "$POSTGRES_DB" -f "$f" ;;
        *.sql.gz) echo "running $f" && gunzip -c "$f" | psql -v ON_ERROR_STOP=1 --no-password --dbname "$POSTGRES_DB" ;;
        *) [ "$f" = '/docker-entrypoint-initdb.d/*' ] || echo "ignoring $f" ;;
      esac
    done
    unset PGUSER
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "PostgreSQL init process complete; ready for start up."
  else
    echo "PostgreSQL Database directory appears to contain a database; Skipping initialization"
  fi
fi

exec "$@"
