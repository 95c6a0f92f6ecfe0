"""The ASGI web app: provider webhooks, health and metrics."""
