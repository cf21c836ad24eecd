"""The household registry: areas, households, members, incomes; roster import."""
