"""The application layer: one module per command, typed requests in, typed results out.

Nothing here prints, exits or draws; progress goes to a callback. cli/ renders the results
for a terminal or as JSON; present/report.py renders the report as Markdown and HTML.
"""
