"""The command-line interface: thin commands over `modelport.api`."""
