#!/bin/sh
# Like the real image's docker/prod_entrypoint.sh without its optional ddtrace/newrelic/supervisord modes:
# hand every argument to the litellm CLI.
#
# The one deviation of this STAND-IN: Prisma downloads its query engine from the internet the first time
# LiteLLM opens a database, which the test machines cannot do. So the stand-in drops DATABASE_URL (the
# collection passes it exactly as it does for the real image) and runs without a database; readiness
# then reports "db": "Not connected". PostgreSQL itself is real and tested on its own.
if [ -n "${DATABASE_URL:-}" ]; then
  echo "stand-in litellm: ignoring DATABASE_URL (no Prisma engines offline); running without a database" >&2
  unset DATABASE_URL
fi
exec litellm "$@"
