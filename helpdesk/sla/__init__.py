"""SLA engine: the business-hours calendar and clock, policies, timers and dashboards."""
