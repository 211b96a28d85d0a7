"""OCDS 1.1.5: releases read from the ledger, records compiled from them, bulk export."""
