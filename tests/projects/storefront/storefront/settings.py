"""Django settings for the storefront test project (a trimmed copy of the course's project).

Only what Celery and `manage.py check` need. The database file need not exist: nothing here
touches it.
"""

from pathlib import Path

from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "django-insecure-storefront-test-project-not-a-secret"

DEBUG = True

ALLOWED_HOSTS = []

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "playground",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Deliberately NOT the broker celerydesk runs: like celery's examples/django, this project points
# at RabbitMQ. celerydesk must override it (`-b URL` / CELERY_BROKER_URL) for every process it
# starts; a test that sees a connection attempt to 5672 has found a bug.
CELERY_BROKER_URL = "amqp://guest:guest@localhost:5672//"

CELERY_BEAT_SCHEDULE = {
    "notify_customers": {
        "task": "playground.tasks.notify_customers",
        # Every Monday at 7:30 a.m.
        "schedule": crontab(day_of_week=1, hour=7, minute=30),
        "args": ["Hello World"],
    },
    "notify_customers_every_15_seconds": {
        "task": "playground.tasks.notify_customers",
        # A plain number is an interval in seconds: the course's "use schedule: 15 for testing".
        "schedule": 15,
        "args": ["Hello every 15 seconds"],
    },
}
