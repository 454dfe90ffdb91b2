"""The analytic memory and performance model (see docs/model/)."""
