"""Monthly payment rosters for the bank: build, close (freeze), export, bank returns."""
