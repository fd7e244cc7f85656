"""kdbench: distil, evaluate and profile efficient neural rankers."""

__version__ = "0.1.0"
