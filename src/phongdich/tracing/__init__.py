"""Tracing (truy vết): confirmed cases, their contacts F1 → F2 from every source, follow-up."""
