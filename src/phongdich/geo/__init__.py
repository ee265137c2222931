"""Administrative units: a tree of any depth (province → [district →] commune)."""
