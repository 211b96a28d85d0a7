"""Who is who: institutions and their units, suppliers and sanctions, users, roles and sessions."""
