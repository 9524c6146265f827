"""Command-line interface (typer): thin wrappers that parse, call one library function, and print."""
