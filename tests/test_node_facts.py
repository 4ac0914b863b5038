"""NodeFacts' commands started ahead, on this machine's own shell (testinfra's local backend)."""

from __future__ import annotations

from pathlib import Path

import pytest
import testinfra

from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.node import GOCONSERVER_BINARY, XCAT_VERSION_FILE, NodeFacts
from xcatha_verify.facts.xcat import parse_psql_tables
from xcatha_verify.inventory import load_inventory

INVENTORY = Path(__file__).parent / "inventories" / "minimal.yml"


@pytest.fixture
def facts() -> NodeFacts:
    inventory = load_inventory(INVENTORY)
    return NodeFacts(testinfra.get_host("local://"), inventory.nodes[0], inventory)


def test_run_collects_a_started_command_once_then_runs_afresh(facts: NodeFacts) -> None:
    command = "echo pid=$$"
    facts.start(command)
    started = facts.run(command)
    again = facts.run(command)
    assert started.rc == 0 and started.stdout.startswith("pid=")
    assert again.stdout != started.stdout  # a new shell: the started result is used once


def test_started_commands_run_side_by_side(facts: NodeFacts, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    # The first waits for what the second does: run one after the other, the first would time out.
    waiter = "timeout 10 sh -c 'until [ -e \"$1\" ]; do sleep 0.05; done; echo saw it' sh %s"
    facts.start(waiter, str(flag))
    facts.start("sleep 0.2; touch %s", str(flag))
    result = facts.run(waiter, str(flag))
    assert (result.rc, result.stdout.strip()) == (0, "saw it")
    assert facts.run("sleep 0.2; touch %s", str(flag)).rc == 0


def test_arguments_are_quoted_and_part_of_what_matches(facts: NodeFacts, tmp_path: Path) -> None:
    hostile = "x; touch " + str(tmp_path / "pwned")
    facts.start("printf %%s %s", hostile)
    assert facts.run("printf %%s %s", "other").stdout == "other"  # not the started one
    assert facts.run("printf %%s %s", hostile).stdout == hostile
    assert not (tmp_path / "pwned").exists()



# xCAT::Version as xCAT's build stamps it (xcat-core 2.19.0, the lines that matter).
VERSION_PM = """package xCAT::Version;
sub Version
{
    my $version = shift;
    if ($version eq 'short')
    {
        $version = ''    . '2.19.0' ;
    }
    else
    {
        $version = 'Version '    . '2.19.0' . ' (git commit 7733d16)' ;
    }
    return $version;
}
"""


def test_xcat_version_is_read_as_lsxcatd_words_it(facts: NodeFacts) -> None:
    facts._files[XCAT_VERSION_FILE] = VERSION_PM
    assert facts.xcat_version == "2.19.0 (git commit 7733d16)"
    facts._files[XCAT_VERSION_FILE] = None
    assert facts.xcat_version == "not installed"
    facts._files[XCAT_VERSION_FILE] = "package xCAT::Version;\n"
    assert facts.xcat_version.startswith("unknown (")


@pytest.mark.parametrize(("lock", "site", "expected"), [
    ("goconserver\n", {"consoleservice": "conserver"}, ("goconserver", "console.lock names goconserver")),
    ("conserver\n", {}, ("conserver", "console.lock names conserver")),
    (None, {"consoleservice": "goconserver"}, ("goconserver", "no console.lock; site consoleservice=goconserver")),
    (None, {"consoleservice": "confluent"}, (None, "no console.lock; site consoleservice=confluent: not a console "
                                                   "server the procedure starts")),
    # This machine has no /usr/bin/goconserver: xCAT's conserver.
    (None, {"domain": "x"}, ("conserver", "no console.lock, no site consoleservice, no goconserver installed: "
                                          "conserver")),
])  # fmt: skip
def test_console_choice_follows_the_order_of_evidence(
    facts: NodeFacts, lock: str | None, site: dict[str, str], expected: tuple[str | None, str]
) -> None:
    assert not Path(GOCONSERVER_BINARY).exists()
    facts._files["/etc/xcat/console.lock"] = lock
    facts._files["/etc/xcat/cfgloc"] = "Pg:dbname=xcatdb;host=10.5.106.7|xcatadm|pw\n"  # the shared /etc/xcat
    facts.__dict__["xcatcfg"] = None
    facts.__dict__["site_table"] = site
    assert facts.console_choice == expected


def test_console_choice_cannot_be_told_without_the_shared_etc_xcat(facts: NodeFacts) -> None:
    # No lock, but no cfgloc either: this /etc/xcat is not the shared one, where a lock may well be.
    facts._files["/etc/xcat/console.lock"] = None
    facts._files["/etc/xcat/cfgloc"] = None
    facts.__dict__["xcatcfg"] = None
    facts.__dict__["site_table"] = {"consoleservice": "conserver"}
    with pytest.raises(FactError, match="the shared /etc/xcat not connected"):
        _ = facts.console_choice


class _CannedHost:
    """A testinfra-like host answering XCATD_ENVIRONMENT with canned text, and files from a dict."""

    def __init__(self, environment: str, files: dict[str, str]) -> None:
        self.environment, self.files = environment, files

    def run(self, command: str, *args: str) -> testinfra.backend.base.CommandResult:
        if "systemctl show -p MainPID" in command:
            out, rc = self.environment, 0
        elif command.startswith("cat -- ") and args[0] in self.files:
            out, rc = self.files[args[0]], 0
        else:
            out, rc = "", 1
        return testinfra.backend.base.CommandResult(None, rc, command.encode(), out, "")  # type: ignore[arg-type]


def _xcatcfg_facts(environment: str, files: dict[str, str] | None = None) -> NodeFacts:
    inventory = load_inventory(INVENTORY)
    return NodeFacts(_CannedHost(environment, files or {}), inventory.nodes[0], inventory)  # type: ignore[arg-type]


GOOD = "Pg:dbname=xcatdb;host=10.5.106.7|xcatadm|s3cret"


def test_xcatcfg_of_a_running_xcatd_is_its_own_environment() -> None:
    # The unit would give another value; the running daemon's own wins, as Table.pm sees it.
    shown = ("MainPID=4242\nEnvironment=XCATCFG=mysql:dbname=x;host=y|u|p\nEnvironmentFiles=\n"
             f"@@environ\nXCATCFG={GOOD}\n")  # fmt: skip
    where, value = _xcatcfg_facts(shown).xcatcfg or ("", "")
    assert value == GOOD and "running xcatd" in where and "4242" in where
    assert _xcatcfg_facts("MainPID=4242\n@@environ\n").xcatcfg is None  # running, without XCATCFG


def test_xcatcfg_of_a_stopped_xcatd_comes_from_its_unit_files_over_environment() -> None:
    shown = ("MainPID=0\nEnvironment=\"XCATCFG=Pg:dbname=a;host=b|u|p\" XCATROOT=/opt/xcat\n"
             "EnvironmentFiles=/etc/sysconfig/xcat (ignore_errors=yes)\n")  # fmt: skip
    from_file = _xcatcfg_facts(shown, {"/etc/sysconfig/xcat": f'# site\nXCATCFG="{GOOD}"\n'})
    assert from_file.xcatcfg == ("XCATCFG in /etc/sysconfig/xcat (xcatd's EnvironmentFile)", GOOD)
    from_unit = _xcatcfg_facts(shown)  # the file does not exist
    assert from_unit.xcatcfg == ("XCATCFG in xcatd's Environment=", "Pg:dbname=a;host=b|u|p")
    assert _xcatcfg_facts("MainPID=0\nEnvironment=\nEnvironmentFiles=\n").xcatcfg is None


def test_the_database_config_is_xcatcfg_else_cfgloc() -> None:
    cfgloc = "/etc/xcat/cfgloc"
    shown = "MainPID=0\nEnvironment=\nEnvironmentFiles=\n"
    assert _xcatcfg_facts(shown, {cfgloc: GOOD + "\n"}).xcat_database_config() == (cfgloc, GOOD + "\n")
    assert _xcatcfg_facts(shown).xcat_database_config() == (cfgloc, None)
    with_env = _xcatcfg_facts("MainPID=9\n@@environ\nXCATCFG=" + GOOD + "\n", {cfgloc: "mysql:x|y|z\n"})
    assert with_env.xcat_database_config()[1] == GOOD


def test_psql_tables_are_split_and_read_as_csv_with_nulls_empty() -> None:
    printed = ('@@table site\nkey,value,comments,disable\nmaster,192.0.2.7,,\n'
               'motd,"two\nlines, quoted",,1\n@@table policy\npriority,name,rule,disable\n1,root,allow,\n'
               '@@table networks\nnetname,net,mgtifname,disable\n')  # fmt: skip
    tables = parse_psql_tables(printed, ("site", "policy", "networks"))
    assert tables["site"][0] == {"key": "master", "value": "192.0.2.7", "comments": "", "disable": ""}
    assert tables["site"][1]["value"] == "two\nlines, quoted" and tables["site"][1]["disable"] == "1"
    assert tables["policy"] == [{"priority": "1", "name": "root", "rule": "allow", "disable": ""}]
    assert tables["networks"] == []  # a table with no rows prints its header only
    with pytest.raises(FactError, match="no networks table"):
        parse_psql_tables(printed.split("@@table networks")[0], ("site", "policy", "networks"))
