"""Rendering: JSON records, terminal tables and step-by-step explanations."""
