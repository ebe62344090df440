"""Pure catalog rules: product states, languages and translations, search text."""
