"""Award: economic evaluation of bids, award by rule or by a whole-tender model, and its checker."""
