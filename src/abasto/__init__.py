"""Abasto: consolidated purchase and supply of health inputs, in the open."""
