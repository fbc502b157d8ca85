"""Webhooks: signed HTTP notifications of help-desk events to endpoints admins register.

``events`` records a delivery in the transaction of the change (called by the services
where each event happens); ``services`` registers endpoints and delivers (a job per
delivery, retried with back-off); ``signing`` is the pure signature scheme.
"""
