"""Catalog: categories, products and their variants, translations, images, search and browse,
and bulk CSV import/export."""
