"""The command-line interface: thin Typer commands over `modelport.commands`; errors become exit codes in `guard`."""
