"""Real servers and local provider fakes for the tests, each started on a free port and stopped by PID."""
