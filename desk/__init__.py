"""The 办不成事 desk: tickets, deadlines on the Chinese working-day calendar, escalation, ratings, reports."""
