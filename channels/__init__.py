"""Outbound: one Sender per channel behind the `Sender` protocol, looked up in a registry by channel."""
