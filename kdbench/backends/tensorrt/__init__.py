"""Backend package: `config.py` is light (registry entry), `backend.py` heavy (imported when chosen)."""
