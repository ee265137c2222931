"""Visits: check-in and check-out at checkpoints, by visitors, staff scanners and on behalf of
people without phones; offline-tolerant through client-generated scan ids."""
