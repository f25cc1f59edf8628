"""Alerts: rules in the workspace (``[[alerts]]``) that watch the stack and fire when they turn true.

- ``rules``: the rule model and its parsing, each problem naming the table and the key;
- ``evaluator``: the rules evaluated over task and worker events and queue-depth samples
  (Qt-free, thread-safe), each rule firing once when it turns true and again only after it cleared;
- ``watch``: what a headless process (``celerydesk up``, the watcher) attaches to its history:
  an evaluator ticking on its own thread, polling queue depths only when a rule needs them;
- ``store``: the firings in the history database (written by the history's writer alone) and
  read back for ``celerydesk alerts fired``.
"""
