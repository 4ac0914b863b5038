"""Facts: a command to run on a node and a parser that turns its output into a typed value.

Parsers are pure functions so they can be tested on recorded output with no node at all.
"""
