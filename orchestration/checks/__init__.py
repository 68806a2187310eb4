"""Dagster asset checks, one module per asset group."""
