"""One module per CLI command (`kdbench.cli` registers each); heavy code is imported lazily."""
