"""The public portal's views of a clave, a supplier and an institution across tenders."""
