"""Demand: rounds, institutions' needs per clave, consolidation and forecasts from consumption."""
