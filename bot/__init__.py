"""Zhitong (政企直通车): the application package — config, database, domain services, Telegram wiring, CLI."""
