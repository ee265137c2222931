"""PhongDich — Vietnam's epidemic-prevention technology suite as one platform."""

__version__ = "0.1.0"
