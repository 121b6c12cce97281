#!/bin/sh
# Like the real image's docker/prod_entrypoint.sh without its optional ddtrace/newrelic/supervisord modes:
# hand every argument to the litellm CLI.
exec litellm "$@"
