"""Compliance: the tamper-evident audit log of every state change by admins and vendors.

Owns `compliance_audit_log` (append-only, each row SHA-256-chained to the previous one),
`compliance_audit_head` (the chain's tip and lock), masking of sensitive values in recorded
changes, chain verification, and the admin audit-log endpoints. Other contexts write entries
with `compliance.public.record_audit` inside their own unit of work. GDPR/CCPA export and
erasure will live here too.
"""
