"""One module per verb; each returns data for cli.py to print."""
