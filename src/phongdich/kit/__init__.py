"""Small shared helpers: errors, i18n, phone numbers, text keys, time, pagination."""
