"""Actions change state; each is idempotent and can say what it would do.

An action compares what is there with what is wanted and produces only the change still needed
(an :class:`~xcatha_verify.actions.edits.Edit` of a file, or the commands left to run), nothing
when the state already matches. Dry-run and diff fall out of that: compute it, show it, stop.
"""
