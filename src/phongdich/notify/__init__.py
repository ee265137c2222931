"""Outgoing SMS / OTT / e-mail: written to an outbox in the same transaction, delivered after."""
