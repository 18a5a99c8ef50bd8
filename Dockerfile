# syntax=docker/dockerfile:1
# The portal's production image: gunicorn serves config.wsgi; the same image runs the Celery worker and beat
# (docker-compose.yml).  Configuration comes only from the environment (config/settings.py).
# Front-end libraries from npm (package.json and its lockfile): only the files pages load go on to the image.
FROM node:20-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error \
 && mkdir -p vendor \
 && cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map vendor/

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=config.settings \
    DEBUG=false \
    WEB_CONCURRENCY=3

RUN python -m venv /opt/venv \
 && groupadd --system portal \
 && useradd --system --gid portal --home-dir /app --no-create-home --shell /usr/sbin/nologin portal

WORKDIR /app

# Dependencies first, from the pinned list in pyproject.toml, so a code change does not reinstall them.
# The code itself runs from /app (PYTHONPATH), where settings find templates/ and static/.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY . .
COPY --from=assets /assets/vendor/ /app/static/vendor/

# Static files are collected into the image (WhiteNoise serves them; DEBUG=false selects the hashed,
# compressed manifest storage).  This SECRET_KEY exists only to import settings during the build; the real
# one comes from the environment at run time.  The code stays root-owned and read-only for the app user;
# only var/ (Celery beat's schedule) is writable.
RUN SECRET_KEY=build-time-collectstatic-only python manage.py collectstatic --noinput \
 && mkdir -p /app/var \
 && chown portal:portal /app/var \
 && chmod 0755 /app/docker/entrypoint.sh

USER portal
EXPOSE 8000

# No arguments (or "web"): migrate, then gunicorn on 0.0.0.0:8000.  Anything else runs as given.
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]
