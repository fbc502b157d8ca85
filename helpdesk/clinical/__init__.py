"""Clinical emergencies: the on-call roster of the clinical-escalation queue, alerts that
need an acknowledgement, their escalation, and what the patient is told."""
