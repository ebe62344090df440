"""Pure shipping rules: carriers and their tracking number formats, normalised statuses and
how a shipment's status follows from its tracking events. No framework imports."""
