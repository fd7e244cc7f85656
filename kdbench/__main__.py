from kdbench.cli import entry

entry()
