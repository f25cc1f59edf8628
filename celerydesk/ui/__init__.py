"""The widgets: they react to the stack controller's signals and never touch QProcess or Celery."""
