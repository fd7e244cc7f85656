"""OpenVINO backend."""
