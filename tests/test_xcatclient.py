"""xcatha_verify.xcatclient without a daemon: the request it sends, the answers it reads.

The answers are xcatd's own (captured from the real xCAT 2.19 on the lab); tests/test_xcat_real_lab.py
reads tables through the real daemon with it and compares with xCAT's own `tabdump`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from xcatha_verify import xcatclient

SITE_ANSWER = """<xcatresponse>
  <data>#key,value,comments,disable</data>
  <data>&quot;domain&quot;,&quot;cluster.test&quot;,,</data>
  <data>&quot;master&quot;,&quot;192.0.2.7&quot;,,</data>
</xcatresponse>
<xcatresponse>
  <serverdone></serverdone>
</xcatresponse>
"""


def test_request_is_the_xml_xcats_cli_clients_send() -> None:
    sent = xcatclient.request_xml("tabdump", ["site", "a<b&c"], cwd="/root")
    root = ET.fromstring(sent)
    assert root.tag == "xcatrequest"
    assert [(el.tag, el.text) for el in root] == [
        ("clienttype", "cli"), ("command", "tabdump"), ("arg", "site"), ("arg", "a<b&c"), ("cwd", "/root"),
    ]


def test_a_table_read_gives_tabdumps_lines() -> None:
    answer = xcatclient.parse_responses(SITE_ANSWER, "tabdump site")
    assert answer.complete and answer.rc == 0 and answer.errors == []
    assert answer.data == ['#key,value,comments,disable', '"domain","cluster.test",,', '"master","192.0.2.7",,']


def test_an_error_answer_exits_as_xcats_client_does() -> None:
    # What real xcatd answers `tabdump nosuch`, and a request while its database is down.
    answer = xcatclient.parse_responses(
        "<xcatresponse><error>No such table: nosuch</error><errorcode>1</errorcode></xcatresponse>"
        "<xcatresponse><serverdone></serverdone></xcatresponse>"
    )
    assert (answer.rc, answer.errors, answer.complete) == (1, ["No such table: nosuch"], True)
    denied = xcatclient.parse_responses(
        "<xcatresponse><error>Permission denied for request</error></xcatresponse>"
        "<xcatresponse><serverdone/></xcatresponse>"
    )
    assert denied.rc == 1 and denied.errors == ["Permission denied for request"]


def test_an_answer_cut_short_is_not_ok() -> None:
    answer = xcatclient.parse_responses("<xcatresponse>\n  <data>#key,value,comments,disable</data>\n</xcatresponse>\n")
    assert not answer.complete and answer.rc == 1
    assert answer.errors == ["communication with xcatd ended before serverdone"]


def test_control_characters_and_broken_xml() -> None:
    # xcatd passes command output through as is; ESC (colour codes) is not XML 1.0.
    answer = xcatclient.parse_responses(
        "<xcatresponse><data>\x1b[1mbold\x1b[0m</data></xcatresponse><xcatresponse><serverdone/></xcatresponse>"
    )
    assert answer.data == ["[1mbold[0m"] and answer.rc == 0
    broken = xcatclient.parse_responses("<xcatresponse><data>half")
    assert broken.rc == 1 and broken.errors[0].startswith("xcatd's answer is not XML")


def test_usage_and_missing_certificates(tmp_path: Path) -> None:
    assert xcatclient.main([]) == 2
    assert xcatclient.main(["lsdef", "site"]) == 2
    # The certificates are loaded before any connection is opened: nothing is contacted here.
    with pytest.raises(xcatclient.XcatdUnreachable, match=r"the client certificates under .* cannot be used"):
        xcatclient.request("tabdump", ["site"], endpoint="localhost:3001", cert_dir=tmp_path)
