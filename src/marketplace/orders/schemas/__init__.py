"""Request and response bodies of the orders context, one module per aggregate."""
