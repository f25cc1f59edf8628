"""Django settings of the shop test project: periodic tasks kept by django-celery-beat.

Its beat runs django-celery-beat's DatabaseScheduler, the way most Django projects keep their
periodic tasks (edited in the admin). The SQLite database is made by `manage.py migrate`: the
`orders` app's data migration seeds one periodic task every 2 seconds.
"""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "django-insecure-shop-test-project-not-a-secret"
DEBUG = True
ALLOWED_HOSTS = []

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_celery_beat",
    "orders",
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# One entry in settings as well: DatabaseScheduler writes it into the database when beat starts.
CELERY_BEAT_SCHEDULE = {
    "nightly-report": {"task": "orders.tasks.record", "schedule": 86400.0, "args": ["nightly"]},
}
