"""`python -m marketplace` runs the same CLI as the `marketplace` command."""

from marketplace.cli import main

main()
