"""惠企政策直达: each new policy pushed to the registered enterprises it is for, after an admin approves.

models.py (campaigns and deliveries), campaigns.py (from the knowledge base to a reviewed campaign),
delivery.py (the queue: weekly caps, working hours, leases, reminders), wording.py (the message an
enterprise reads, one place), outcomes.py (what each push led to). Knows nothing of Telegram.
"""
