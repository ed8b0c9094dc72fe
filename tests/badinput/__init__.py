"""Hostile and broken inputs (one module per input class); see conftest.py for the contract."""
