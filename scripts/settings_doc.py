"""Rewrite docs/settings.md's generated [profile] table from the fields: python scripts/settings_doc.py"""

from __future__ import annotations

import re
from pathlib import Path

from kdbench.config import ProfileSection, keys_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"
BLOCK = re.compile(r"(<!-- profile-keys:start -->\n).*?(<!-- profile-keys:end -->)", re.DOTALL)


def rendered(text: str) -> str:
    return BLOCK.sub(lambda m: m[1] + keys_markdown(ProfileSection) + m[2], text)


if __name__ == "__main__":
    DOC.write_text(rendered(DOC.read_text()))
