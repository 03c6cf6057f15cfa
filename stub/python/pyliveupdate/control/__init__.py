"""The control channel: an owner-only Unix socket per stub (and optional loopback TCP with a token)."""
