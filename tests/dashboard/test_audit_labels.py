"""Every action the desk writes to a ticket's audit trail has a Chinese label on the dashboard."""

from __future__ import annotations

import re

from dashboard.routes.tickets import ACTION_AUDIT_LABELS
from tests.conftest import REPO_ROOT

# The first string literal of desk._audit(…), ._transition(…) and ._escalate(…) calls is the action
# (the actor before it may be an Actor(…) expression).
_WRITES = re.compile(r'\._(?:audit|transition|escalate)\((?:[^"()]|\([^()]*\))*?"([a-z_]+)"')


def test_every_audited_action_has_a_label() -> None:
    sources = "".join(p.read_text("utf-8") for p in (REPO_ROOT / "desk").glob("*.py"))
    written = set(_WRITES.findall(sources))
    assert {"create", "claim", "escalate", "resolve", "accept_warn", "auto_close"} <= written  # the pattern still matches
    missing = sorted(written - ACTION_AUDIT_LABELS.keys())
    assert not missing, f"audit actions without a dashboard label: {missing}"
