"""Deployment search: candidate enumeration, array evaluation, Pareto frontier, fleet mix."""
