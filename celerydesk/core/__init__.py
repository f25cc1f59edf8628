"""Qt-free logic: workspace model, supervision state machine, command lines, runtime files."""
