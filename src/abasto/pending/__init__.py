"""What each user has to do now, gathered from every domain («Mis pendientes»)."""
