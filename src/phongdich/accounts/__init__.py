"""Officials with a jurisdiction, phone accounts (venue owners and staff), sessions, audit."""
