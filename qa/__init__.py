"""The application: typer CLI, batch runner and DuckDB store driving transcribe -> scoring -> reports."""
