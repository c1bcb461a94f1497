"""Clients for external services: one module per vendor, each built to fail well."""
