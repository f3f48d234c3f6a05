# A reference image for compose.yaml: the application with its pinned requirements, run as an unprivileged user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /srv/backoffice

COPY requirements/ requirements/
RUN python -m venv .venv \
    && .venv/bin/pip install --no-cache-dir -r requirements/base.txt -c requirements/constraints.txt
COPY . .
# collectstatic needs settings but no database; the throwaway key and URL exist only during this step.
RUN SECRET_KEY=collectstatic-only PUBLIC_BASE_URL=https://build.invalid .venv/bin/python manage.py collectstatic --no-input \
    && useradd --system --home /srv/backoffice backoffice \
    && mkdir -p var && chown backoffice var

USER backoffice
ENV PATH=/srv/backoffice/.venv/bin:$PATH
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"]
