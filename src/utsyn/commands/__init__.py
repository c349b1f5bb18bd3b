"""Command implementations: glue from CLI arguments to the packages, above the data flow."""
