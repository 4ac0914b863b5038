"""Stand-ins for xCAT's daemon and a few of its commands: lab test equipment, not xCAT.

xCAT itself cannot be installed in the lab, so each lab node runs these small, honest
replacements instead:

- :mod:`.xcatd` is the daemon. Like the real ``xcatd`` it listens on TCP port 3001, reads
  ``/etc/xcat/cfgloc`` and does all the work against the PostgreSQL database named there
  (through the ``psql`` client). It refuses to start when that database does not answer.
- :mod:`.commands` is the thin client behind ``lsdef``, ``tabdump``, ``chdef``, ``lsxcatd``,
  ``makedns``, ``makedhcp``, ``makeconservercf`` and ``makegocons``: it only forwards the
  command to xcatd and prints the reply, so every command fails when xcatd is down.
- :mod:`.db` parses cfgloc and runs SQL through ``psql`` with bound variables.
- ``schema.sql`` is the subset of xCAT's tables the stand-ins use.

What they do is described in each module; nothing more is imitated. Output is shaped like
xCAT 2.16's so the verifier's checks read the same text they would read on a real management
node, but the wire protocol is plain JSON lines rather than xCAT's XML over SSL, and the
``make*`` commands write simple configuration files and restart the services through
``systemctl`` instead of talking to them directly (no nsupdate, no OMAPI).
"""
