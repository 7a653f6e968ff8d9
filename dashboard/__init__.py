"""Staff web dashboard (FastAPI + Jinja2, server-rendered, in Chinese).

The dashboard reads the database directly for listings but changes nothing itself: every state change
goes through the desk's services (desk.service.Desk), so the bot, the CLI and the web behave alike.
"""
