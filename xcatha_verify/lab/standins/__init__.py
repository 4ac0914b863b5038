"""The lab's one stand-in: goconserver (test equipment, not goconserver).

goconserver has no Debian package and its Go dependencies cannot be fetched here, so each node has
:mod:`.goconserver` as ``/usr/bin/goconserver``: the REST API and console port that xCAT's own
``makegocons`` talks to, and nothing more. Everything else the lab runs is the real thing: systemd,
PostgreSQL, xCAT 2.19 (xcatd and its commands), BIND, ISC dhcpd, conserver, chrony, Apache, OpenSSH.
"""
