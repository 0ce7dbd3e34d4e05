"""``python -m mnistzip`` runs the command line."""

from .cli import run

run()
