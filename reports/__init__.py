"""How recorded values read as text: formatting (times, sizes, numbers, people), safe Markdown
to HTML, and the model provenance report.

Below both doors that show them: the portal (``ui/``) and the query service (``queryservice/``,
``GetModelReport``) render the same report with the same code, so a report reads the same
whichever door it is asked through. Imports ``query/`` for the records it renders and nothing
above it (docs/architecture.md, "The dependency rule").
"""
