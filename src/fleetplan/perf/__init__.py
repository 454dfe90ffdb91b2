"""The analytic memory and performance model (see fleetplan/docs/)."""
