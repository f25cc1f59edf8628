import os
import time

from celery import shared_task
from django.conf import settings


@shared_task
def record(label):
    """Append a line to runs.log in the project folder: the tests count what beat sent."""
    with open(os.path.join(settings.BASE_DIR, "runs.log"), "a", encoding="utf-8") as f:
        f.write(f"{time.time():.3f} {label}\n")
    return label
