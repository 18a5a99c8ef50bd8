#!/bin/sh
# Container entrypoint.
#   web (the default): apply migrations, then serve config.wsgi under gunicorn on 0.0.0.0:8000
#                      (workers: WEB_CONCURRENCY, default 3 in the image; no control socket:
#                      the container is managed from outside).
#   anything else:     executed as given, e.g. `celery -A config worker` for the compose worker and beat,
#                      which must not race the web container's migrations.
set -eu

if [ "$#" -eq 0 ] || [ "$1" = "web" ]; then
    python manage.py migrate --noinput
    exec gunicorn config.wsgi:application \
        --bind 0.0.0.0:8000 \
        --access-logfile - \
        --error-logfile - \
        --no-control-socket
fi

exec "$@"
