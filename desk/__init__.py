"""The service layer: what the CLI, the web app and the workers do for agents (cases, agents, sign-in)."""
