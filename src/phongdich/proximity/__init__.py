"""Bluetooth proximity tracing (Bluezone) built on the Google/Apple Exposure Notification design."""
