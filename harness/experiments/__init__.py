"""The paper's experiments as data, and the code that turns cached runs into tables and figures.

The package imports nothing itself: the CLI imports it on every command, and an experiment's
modules (torch, scipy, pandas) load only when a command needs them.
"""
