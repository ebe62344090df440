"""Orders: shopping carts (guest and customer), and, to come, checkout and orders."""
