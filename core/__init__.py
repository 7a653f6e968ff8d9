"""The base every package stands on: configuration, database engines and sessions, the clock.

Imports nothing of ours (checked by import-linter): the domain packages (knowledge, ingest, desk) and the
applications on top (bot, handlers, dashboard, the CLI) all import it.
"""
