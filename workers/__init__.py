"""RQ job functions and worker processes: the only package that composes router, channels and templates."""
