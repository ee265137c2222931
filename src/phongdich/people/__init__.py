"""The person registry: one identity per person, referenced by visits, declarations and tracing.

This first version holds what check-in needs (name, phone, year of birth) and the personal QR
token; the health-declarations work extends it.
"""
