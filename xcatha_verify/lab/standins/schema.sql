-- The subset of xCAT's tables that the lab stand-ins use (lab test equipment, not xCAT's schema).
-- Column names and order follow xCAT 2.16; every column is text, as in xCAT's own Pg schema.
-- Idempotent: load it with
--   psql -X -v ON_ERROR_STOP=1 -h HOST -U xcatadm -d xcatdb -f schema.sql
-- then insert seed rows. "disable" set to '1' or 'yes' hides a row from lsdef and the make* commands.

create table if not exists site (
    key text primary key,
    value text,
    comments text,
    disable text
);

create table if not exists networks (
    netname text primary key,
    net text,
    mask text,
    mgtifname text,
    gateway text,
    dhcpserver text,
    tftpserver text,
    nameservers text,
    ntpservers text,
    dynamicrange text,
    mtu text,
    comments text,
    disable text
);

create table if not exists nodelist (
    node text primary key,
    groups text,
    status text,
    comments text,
    disable text
);

create table if not exists hosts (
    node text primary key,
    ip text,
    hostnames text,
    comments text,
    disable text
);

create table if not exists mac (
    node text primary key,
    interface text,
    mac text,
    comments text,
    disable text
);

create table if not exists policy (
    priority text primary key,
    name text,
    host text,
    commands text,
    noderange text,
    parameters text,
    time text,
    rule text,
    comments text,
    disable text
);
