"""What every other package shares: the envelope, typed settings, errors and the Redis store."""
