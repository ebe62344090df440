"""Every query of the orders context, one module per aggregate."""
