"""Pure vendor rules: store lifecycle, banking details, commission."""
