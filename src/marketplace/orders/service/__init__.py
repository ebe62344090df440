"""Orders use cases, one module per aggregate (`carts`). None of them commits."""
