"""Gated runbooks: the model and rendering, the executor, and the record a run leaves on disk.

A run writes ``reports/<YYYYmmddTHHMMSS>-<runbook>/journal.json`` (:mod:`.journal`, rewritten atomically
after every change), holds a lock per pair while it runs (:mod:`.lock`) and ends with an HTML page of
what happened and what to do next (:mod:`.report`).
"""
