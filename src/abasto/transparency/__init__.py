"""Transparency: the public ledger now; OCDS open data, the portal and red flags next."""
