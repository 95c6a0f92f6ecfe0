"""Channel adapters: one per channel, a pure `to_envelope` plus a thin server or poller shell."""
