"""``python -m abasto`` runs the CLI."""

from abasto.cli import app

app()
