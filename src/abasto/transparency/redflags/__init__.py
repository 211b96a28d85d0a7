"""Red flags: OCP Cardinal's indicators and Abasto's own, computed with SQL over whole tables."""
