"""No scheduled tracing jobs yet: follow-up reminders come with the warnings work."""
