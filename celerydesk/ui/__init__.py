"""The widgets: they get the window's services in one ``DeskContext`` (services/context.py),
react to their signals, and never touch QProcess, a subprocess or a broker themselves."""
