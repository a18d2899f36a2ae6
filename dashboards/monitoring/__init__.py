"""The pipeline monitoring console (issue 16 section 2): panels.py reads, app.py renders."""
