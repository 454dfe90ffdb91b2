"""Traffic history in, forecasts out: `history` reads gateway logs, request files and hourly
counts; `model` fits trend and daily/weekly seasonality (statsmodels, extra `forecast`)."""
