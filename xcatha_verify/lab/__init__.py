"""The two-node proving ground: namespaces, real sshd, PostgreSQL, chronyd and xCAT stand-ins."""
