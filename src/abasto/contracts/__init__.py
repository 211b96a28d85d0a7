"""Contracts after the fallo: signing, guarantee, convenios, orders, deliveries, penalties."""
