"""QtCore services shared by the window and the headless CLI: processes, brokers, the stack."""
