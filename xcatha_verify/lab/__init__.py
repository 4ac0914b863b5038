"""The two-node proving ground: namespaces, the real systemd, sshd, PostgreSQL, xCAT 2.19 and its daemons."""
