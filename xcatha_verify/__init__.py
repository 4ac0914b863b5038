"""xcatha-verify: readiness checks, gated runbooks and drift reports for xCAT management-node HA."""

__version__ = "0.1.0"
