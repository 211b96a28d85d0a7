"""Inventory: stock per unit × clave × lot as movements, FEFO, indicators, redistribution."""
