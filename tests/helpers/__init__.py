"""Helpers shared by celerydesk's tests (no test code lives here).

- :mod:`.project_venv`: real, cached virtual environments for the Celery projects in
  ``tests/projects/`` (made with the base interpreter, never with celerydesk's own packages).
  Import from the module itself, ``from tests.helpers.project_venv import project_venv``:
  nothing is re-exported here, so the function never shadows the module of the same name.
"""
