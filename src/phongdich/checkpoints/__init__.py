"""Checkpoints ("điểm kiểm dịch"): registration, entrances with signed QR codes, posters."""
