from time import sleep

from celery import shared_task


@shared_task
def notify_customers(message):
    """Email every customer a message (pretend: print it and wait a moment)."""
    print("Sending 10k emails...")
    print(message)
    sleep(0.2)
    print("Emails were successfully sent!")
    return f"notified customers: {message}"


@shared_task(bind=True)
def resize_image(self, path: str, width: int = 800, *, keep_ratio: bool = True):
    """Resize the image at `path` to `width` pixels wide (pretend: report what would be done).

    With `keep_ratio`, the height follows the width; otherwise the image is cropped square.
    """
    sleep(0.05)
    return {
        "task_id": self.request.id,
        "path": path,
        "width": width,
        "keep_ratio": keep_ratio,
    }


@shared_task
def add(x, y):
    return x + y
