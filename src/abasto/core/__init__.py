"""Platform core: configuration, database, clock, money, errors and the ledger."""
