"""Catalog of claves: the Compendio Nacional de Insumos para la Salud and homologated codes."""
