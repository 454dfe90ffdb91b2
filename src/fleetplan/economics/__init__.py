"""Economics: unit cost, breakeven, budgets, fleet mix, TCO, caching, tenancy, quantization.

Pure functions over numbers and specs (no files, no printing). Every result carries the
utilization it assumes and the basis of its prices.
"""
