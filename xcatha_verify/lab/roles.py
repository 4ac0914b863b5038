"""The lab's own activation and deactivation: the project's runbooks, their steps only.

`xcatha-lab up` and the lab tests' set-up move the pair with the very steps `xcatha-run` runs
(runbooks/activate.yml, deactivate.yml, over SSH with the lab's inventory), not with a second
copy of them. Gates are left out here: the state the steps leave is judged by tests/observe.py,
an observer independent of the checks, so a runbook bug cannot become the lab's baseline unseen.
Each run leaves its journal under the lab's log directory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from xcatha_verify.inventory import load_inventory
from xcatha_verify.lab.layout import LabLayout
from xcatha_verify.runbook_engine import loading
from xcatha_verify.runbook_engine.executor import Executor, Options
from xcatha_verify.runbook_engine.journal import Journal

log = logging.getLogger(__name__)


def run_runbook(layout: LabLayout, name: str, node: str, echo: Callable[[str], None] | None = None) -> Journal:
    """Walk runbook `name` for `node` without gates; raises RunStopped naming the failed step."""
    inventory = load_inventory(layout.inventory)
    runbook = loading.load_for(name, inventory, inventory.node(node))
    journal = Journal.create(layout.log_dir / "runs", runbook.name, cluster=inventory.cluster,
                             inventory=inventory.source, phases=[p.name for p in runbook.phases])  # fmt: skip
    assert journal.run_dir is not None
    options = Options(gates=False, echo=echo or (lambda line: log.debug("%s", line)))
    try:
        Executor(runbook, inventory, journal, journal.run_dir, options).run()
    except BaseException as exc:
        journal.finish("failed", str(exc))
        raise
    journal.finish("succeeded")
    return journal


def activate(layout: LabLayout, node: str) -> Journal:
    return run_runbook(layout, "activate", node)


def deactivate(layout: LabLayout, node: str) -> Journal:
    return run_runbook(layout, "deactivate", node)
