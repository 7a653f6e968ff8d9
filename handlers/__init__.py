"""Telegram handlers, one module per role. Thin: parse → call a service → render."""
