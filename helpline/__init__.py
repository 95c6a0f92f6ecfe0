"""The `helpline` command and the process supervisor behind `helpline run`."""
