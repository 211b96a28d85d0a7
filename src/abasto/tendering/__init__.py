"""Tendering: procedures, clarifications, sealed bids with public commitments, the live opening."""
