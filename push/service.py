"""`PushService`: the policy push as one object (campaigns → deliveries → the enterprise's side → outcomes)."""

from __future__ import annotations

from push.outcomes import Outcomes


class PushService(Outcomes):
    """Review campaigns, deliver them, record what enterprises answer, and report what came of it.

    Built from the parts in this package, each a layer on the one before: campaigns.py (from the
    knowledge base to an approved campaign), delivery.py (the queue), enterprises.py (profile, consent,
    answers), outcomes.py (figures).
    """


__all__ = ["PushService"]
