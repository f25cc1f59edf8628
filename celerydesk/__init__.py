"""celerydesk: a desktop control panel for Celery stacks.

Kept import-light on purpose: the orphan reaper and the live beat scheduler are started as
``python -m celerydesk.…`` and must not pay for Qt or Celery imports they do not use.
"""

__version__ = "0.1.0"
