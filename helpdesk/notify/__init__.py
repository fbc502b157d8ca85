"""Notifications without PHI: in-app notices for staff, outgoing e-mail, inbound
e-mail as a channel, attachments and satisfaction surveys (CSAT)."""
